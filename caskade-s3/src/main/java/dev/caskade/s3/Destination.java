package dev.caskade.s3;

import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Opens a destination from its URL: {@code file:///abs/path}, a plain path (relative ones are made absolute), or
 * {@code s3://bucket[/prefix]}.
 */
public final class Destination {
    private static final Pattern SCHEME = Pattern.compile("^([A-Za-z][A-Za-z0-9+.-]*):(.*)$", Pattern.DOTALL);

    private Destination() {}

    /**
     * The store for {@code url} behind a retry and a circuit breaker. Opening sends nothing over the network.
     *
     * @param s3 how to reach S3 (null: {@link S3Options#defaults()}); ignored for directories
     * @param breaker retry and breaker settings (null: {@link BreakerOptions#defaults()})
     * @throws IllegalArgumentException when the URL is not a destination, saying why
     */
    public static GuardedStore open(String url, S3Options s3, BreakerOptions breaker) {
        return new GuardedStore(openDirect(url, s3), breaker == null ? BreakerOptions.defaults() : breaker);
    }

    /** The store for {@code url} with no retry and no breaker (tests, one-shot tools). */
    public static ObjectStore openDirect(String url, S3Options s3) {
        if (url == null || url.isBlank()) {
            throw new IllegalArgumentException("empty destination URL");
        }
        var m = SCHEME.matcher(url);
        // "C:" style drive letters are not schemes; one letter never is
        if (!m.matches() || m.group(1).length() == 1) {
            return DirectoryStore.open(path(url, url));
        }
        String scheme = m.group(1).toLowerCase(Locale.ROOT);
        return switch (scheme) {
            case "file" -> DirectoryStore.open(fileUrl(url));
            case "s3" -> s3Url(url, s3 == null ? S3Options.defaults() : s3);
            default ->
                throw new IllegalArgumentException("unsupported destination scheme '" + scheme + "' in '" + url
                        + "': use file:///absolute/path, a plain directory path, or s3://bucket/prefix");
        };
    }

    private static Path path(String text, String url) {
        try {
            return Path.of(text).toAbsolutePath().normalize();
        } catch (InvalidPathException e) {
            throw new IllegalArgumentException("bad destination path '" + url + "': " + e.getMessage(), e);
        }
    }

    private static Path fileUrl(String url) {
        URI uri;
        try {
            uri = new URI(url);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException(
                    "bad destination URL '" + url + "': " + e.getMessage()
                            + " (write file:///absolute/path, with spaces as %20, or give a plain path)",
                    e);
        }
        if (uri.isOpaque() || uri.getRawPath() == null || !uri.getRawPath().startsWith("/")) {
            throw new IllegalArgumentException("file URL '" + url
                    + "' must be absolute: file:///absolute/path (or give a plain path, relative ones are fine)");
        }
        if (uri.getRawAuthority() != null && !uri.getRawAuthority().equals("localhost")) {
            throw new IllegalArgumentException("file URL '" + url + "' names a host ('" + uri.getRawAuthority()
                    + "'): write file:///absolute/path (three slashes)");
        }
        if (uri.getRawQuery() != null || uri.getRawFragment() != null) {
            throw new IllegalArgumentException("file URL '" + url + "' must have no query or fragment");
        }
        return path(uri.getPath(), url);
    }

    private static S3Store s3Url(String url, S3Options s3) {
        String rest = url.substring("s3:".length());
        if (!rest.startsWith("//")) {
            throw new IllegalArgumentException("S3 URL '" + url + "' must be s3://bucket[/prefix]");
        }
        rest = rest.substring(2);
        if (rest.contains("?") || rest.contains("#")) {
            throw new IllegalArgumentException("S3 URL '" + url + "' must have no query or fragment");
        }
        int slash = rest.indexOf('/');
        String bucket = slash < 0 ? rest : rest.substring(0, slash);
        String prefix = slash < 0 ? "" : rest.substring(slash + 1);
        if (bucket.isEmpty()) {
            throw new IllegalArgumentException("S3 URL '" + url + "' names no bucket: s3://bucket[/prefix]");
        }
        if (bucket.contains("@") || bucket.contains(":")) {
            throw new IllegalArgumentException("S3 URL '" + url.replaceAll("//[^@/]*@", "//***@")
                    + "' must not hold credentials or a port (use the AWS credential chain and --s3-endpoint)");
        }
        while (prefix.endsWith("/")) {
            prefix = prefix.substring(0, prefix.length() - 1);
        }
        if (!prefix.isEmpty()) {
            try {
                ObjectStore.checkName(prefix);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("bad prefix in S3 URL '" + url + "': " + e.getMessage(), e);
            }
        }
        return S3Store.open(bucket, prefix, s3);
    }
}
