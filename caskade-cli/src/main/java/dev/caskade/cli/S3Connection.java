package dev.caskade.cli;

import dev.caskade.s3.S3Options;
import dev.caskade.server.ReplicationConfig;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;
import picocli.CommandLine.TypeConversionException;

/**
 * {@code --s3-endpoint}, {@code --s3-region}, {@code --s3-path-style}: how every command that takes an {@code s3://}
 * URL reaches S3. Credentials come from the AWS default chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, the
 * aws.accessKeyId and aws.secretAccessKey system properties, ~/.aws, an instance role), never from a flag.
 */
final class S3Connection {
    /** The environment variables behind the flags, read when a flag is not given. */
    static final List<String> VARIABLES = List.of("CASKADE_S3_ENDPOINT", "CASKADE_S3_REGION", "CASKADE_S3_PATH_STYLE");

    @Option(
            names = "--s3-endpoint",
            paramLabel = "URI",
            converter = EndpointConverter.class,
            description = "An S3-compatible server, e.g. http://127.0.0.1:9000 (default: AWS; env CASKADE_S3_ENDPOINT)."
                    + " Path-style addressing and region us-east-1 then, unless said otherwise.")
    URI endpoint;

    @Option(
            names = "--s3-region",
            paramLabel = "REGION",
            converter = RegionConverter.class,
            description = "The S3 region (default: the AWS region chain, e.g. AWS_REGION; env CASKADE_S3_REGION).")
    String region;

    @Option(
            names = "--s3-path-style",
            arity = "0..1",
            paramLabel = "BOOL",
            fallbackValue = "true",
            description = "Address buckets as ENDPOINT/BUCKET rather than BUCKET.ENDPOINT"
                    + " (default: true with --s3-endpoint; env CASKADE_S3_PATH_STYLE).")
    Boolean pathStyle;

    /** The flags as a configuration layer (null where not given). */
    ReplicationConfig layer() {
        return new ReplicationConfig(null, null, null, null, null, null, null, null, endpoint, region, pathStyle, null);
    }

    /** The S3 options: flags over the CASKADE_S3_* variables over the defaults. */
    S3Options options(Map<String, String> environment) {
        return layer().over(ReplicationConfig.fromEnvironment(only(environment, VARIABLES)))
                .s3Options();
    }

    /** The variables of {@code env} that are in {@code names}. */
    static Map<String, String> only(Map<String, String> env, List<String> names) {
        HashMap<String, String> out = new HashMap<>();
        for (String n : names) {
            String v = env.get(n);
            if (v != null) out.put(n, v);
        }
        return out;
    }

    /** A region name as S3 spells them ({@code us-east-1}). */
    static final class RegionConverter implements ITypeConverter<String> {
        @Override
        public String convert(String text) {
            try {
                return S3Options.defaults().withRegion(text.trim()).region();
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }

    /** An endpoint must be http(s)://host[:port] without a path. */
    static final class EndpointConverter implements ITypeConverter<URI> {
        @Override
        public URI convert(String text) {
            try {
                URI uri = new URI(text.trim());
                S3Options.forEndpoint(uri); // checks the scheme, the host, no path
                return uri;
            } catch (URISyntaxException | IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }
}
