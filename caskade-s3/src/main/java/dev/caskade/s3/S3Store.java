package dev.caskade.s3;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Collection;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.core.ResponseBytes;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.exception.ApiCallAttemptTimeoutException;
import software.amazon.awssdk.core.exception.ApiCallTimeoutException;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.core.exception.SdkServiceException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.LegacyMd5Plugin;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3ClientBuilder;
import software.amazon.awssdk.services.s3.S3Configuration;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.DeleteObjectsResponse;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.ObjectIdentifier;
import software.amazon.awssdk.services.s3.model.PutObjectRequest;
import software.amazon.awssdk.services.s3.model.S3Error;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * Objects in an S3 bucket under a key prefix ({@code s3://bucket/prefix}), through the AWS SDK v2 with the
 * URL-connection HTTP client. The SDK's own retries are off: {@link GuardedStore} retries. Files larger than
 * {@link S3Options#partSize()} are uploaded in parts (each with a Content-MD5), so the object appears whole when
 * the upload completes; smaller ones in one request with a Content-MD5.
 *
 * <p>Conditional writes use {@code If-None-Match: *} and {@code If-Match: etag}. Whether the server enforces them is
 * probed once, on the first call to {@link #conditionalWrites()} (two writes to a {@code .caskade-probe-*} object at
 * the root, then a delete). When it does not, {@link #putIfAbsent} and {@link #putIfMatch} fall back to a check and
 * a plain write: correct for one writer, racy for two.
 */
public final class S3Store implements ObjectStore {
    private static final Logger log = LoggerFactory.getLogger(S3Store.class);

    /** DeleteObjects takes at most this many keys. */
    static final int DELETE_BATCH = 1000;

    private static final Set<String> RETRYABLE_CODES = Set.of(
            "SlowDown",
            "Throttling",
            "ThrottlingException",
            "RequestThrottled",
            "TooManyRequests",
            "RequestTimeout",
            "InternalError",
            "ServiceUnavailable",
            "OperationAborted",
            "ConditionalRequestConflict");

    private final S3Client client;
    private final String bucket;
    private final String prefix;
    private final String url;
    private final S3Options options;
    private volatile Boolean conditional;
    private volatile boolean batchDeletes = true;

    private S3Store(S3Client client, String bucket, String prefix, S3Options options) {
        this.client = client;
        this.bucket = bucket;
        this.prefix = prefix;
        this.options = options;
        this.url = "s3://" + bucket + (prefix.isEmpty() ? "" : "/" + prefix.substring(0, prefix.length() - 1));
    }

    /**
     * A store for {@code s3://bucket/prefix}. Nothing is sent until the first call.
     *
     * @param prefix the key prefix ("" for the whole bucket); a trailing '/' is added when missing
     */
    public static S3Store open(String bucket, String prefix, S3Options options) {
        if (bucket == null || !bucket.matches("[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")) {
            throw new IllegalArgumentException("bad S3 bucket name '" + bucket
                    + "': 3-63 characters, lowercase letters, digits, '.' and '-', starting and ending alphanumeric");
        }
        String p = prefix == null ? "" : prefix;
        while (p.endsWith("/")) {
            p = p.substring(0, p.length() - 1);
        }
        if (!p.isEmpty()) {
            ObjectStore.checkName(p);
            p = p + "/";
        }
        S3Client client;
        try {
            client = client(options);
        } catch (SdkClientException e) {
            // e.g. no region anywhere in the AWS chain
            throw new IllegalArgumentException(
                    "cannot set up the S3 client for s3://" + bucket + ": " + e.getMessage()
                            + " (set the region with --s3-region or AWS_REGION)",
                    e);
        }
        return new S3Store(client, bucket, p, options);
    }

    private static S3Client client(S3Options o) {
        S3ClientBuilder b = S3Client.builder()
                .httpClientBuilder(UrlConnectionHttpClient.builder()
                        .connectionTimeout(o.connectTimeout())
                        .socketTimeout(o.readTimeout()))
                .serviceConfiguration(S3Configuration.builder()
                        .pathStyleAccessEnabled(o.pathStyle())
                        .build())
                .overrideConfiguration(c -> {
                    c.retryStrategy(AwsRetryStrategy.doNotRetry());
                    if (o.attemptTimeout() != null) {
                        c.apiCallAttemptTimeout(o.attemptTimeout());
                    }
                });
        if (o.endpoint() != null) {
            b.endpointOverride(o.endpoint());
        }
        if (o.effectiveRegion() != null) {
            b.region(Region.of(o.effectiveRegion()));
        }
        b.credentialsProvider(
                o.credentials() == null
                        ? DefaultCredentialsProvider.builder().build()
                        : StaticCredentialsProvider.create(AwsBasicCredentials.create(
                                o.credentials().accessKeyId(), o.credentials().secretAccessKey())));
        if (o.checksumsWhenRequired()) {
            b.requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                    .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                    // DeleteObjects needs Content-MD5 on many S3-compatible servers
                    .addPlugin(LegacyMd5Plugin.create());
        }
        return b.build();
    }

    /** The bucket. */
    public String bucket() {
        return bucket;
    }

    /** The key prefix ("" or ending with '/'). */
    public String prefix() {
        return prefix;
    }

    @Override
    public void put(String name, byte[] data) {
        String key = key(name);
        if (data.length > options.partSize()) {
            putParts(
                    name,
                    key,
                    data.length,
                    (offset, length) -> Arrays.copyOfRange(data, (int) offset, (int) (offset + length)));
            return;
        }
        call("put", name, () -> client.putObject(putRequest(key, data).build(), RequestBody.fromBytes(data)));
    }

    private PutObjectRequest.Builder putRequest(String key, byte[] data) {
        return PutObjectRequest.builder()
                .bucket(bucket)
                .key(key)
                .contentLength((long) data.length)
                .contentMD5(md5(data));
    }

    @Override
    public void put(String name, Path file) {
        String key = key(name);
        FileChannel source;
        try {
            source = FileChannel.open(file, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new ObjectStoreException(url, "put", name, 0, false, "source file " + file + " not found", e);
        } catch (IOException e) {
            throw new ObjectStoreException(url, "put", name, 0, false, "cannot read " + file + ": " + e, e);
        }
        try (FileChannel in = source) {
            long size = in.size();
            if (size <= options.partSize()) {
                put(name, readFully(in, 0, (int) size, file));
            } else {
                putParts(name, key, size, (offset, length) -> readFully(in, offset, length, file));
            }
        } catch (IOException | UncheckedIOException e) {
            throw new ObjectStoreException(url, "put", name, 0, false, "cannot read " + file + ": " + e, e);
        }
    }

    private interface Parts {
        byte[] read(long offset, int length) throws IOException;
    }

    // a multipart upload: the object appears when it completes; aborted on any failure
    private void putParts(String name, String key, long size, Parts source) {
        String uploadId = call(
                "put",
                name,
                () -> client.createMultipartUpload(r -> r.bucket(bucket).key(key))
                        .uploadId());
        boolean done = false;
        try {
            List<CompletedPart> parts = new ArrayList<>();
            int number = 1;
            for (long offset = 0; offset < size; offset += options.partSize(), number++) {
                byte[] part;
                try {
                    part = source.read(offset, (int) Math.min(options.partSize(), size - offset));
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
                int n = number;
                String etag = call(
                        "put",
                        name,
                        () -> client.uploadPart(
                                        r -> r.bucket(bucket)
                                                .key(key)
                                                .uploadId(uploadId)
                                                .partNumber(n)
                                                .contentLength((long) part.length)
                                                .contentMD5(md5(part)),
                                        RequestBody.fromBytes(part))
                                .eTag());
                parts.add(CompletedPart.builder().partNumber(n).eTag(etag).build());
            }
            call(
                    "put",
                    name,
                    () -> client.completeMultipartUpload(
                            r -> r.bucket(bucket).key(key).uploadId(uploadId).multipartUpload(u -> u.parts(parts))));
            done = true;
        } finally {
            if (!done) {
                try {
                    client.abortMultipartUpload(r -> r.bucket(bucket).key(key).uploadId(uploadId));
                } catch (SdkException e) {
                    log.warn("could not abort the multipart upload of {} at {}: {}", name, url, e.toString());
                }
            }
        }
    }

    private static byte[] readFully(FileChannel in, long offset, int length, Path file) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(length);
        while (buf.hasRemaining()) {
            if (in.read(buf, offset + buf.position()) < 0) {
                throw new IOException(file + " shrank while being uploaded");
            }
        }
        return buf.array();
    }

    @Override
    public Optional<byte[]> get(String name) {
        String key = key(name);
        return call("get", name, () -> {
            try {
                return Optional.of(
                        client.getObjectAsBytes(r -> r.bucket(bucket).key(key)).asByteArray());
            } catch (SdkServiceException e) {
                if (isNoSuchKey(e)) {
                    return Optional.empty();
                }
                throw e;
            }
        });
    }

    @Override
    public InputStream open(String name) {
        String key = key(name);
        return call("open", name, () -> client.getObject(r -> r.bucket(bucket).key(key)));
    }

    @Override
    public byte[] read(String name, long offset, int length) {
        if (offset < 0 || length < 0) {
            throw new IllegalArgumentException("offset and length must be >= 0: " + offset + ", " + length);
        }
        String key = key(name);
        if (length == 0) {
            if (stat(name).isEmpty()) {
                throw new NoSuchObjectException(url, "read", name, null);
            }
            return new byte[0];
        }
        return call("read", name, () -> {
            try {
                ResponseBytes<GetObjectResponse> r = client.getObjectAsBytes(
                        g -> g.bucket(bucket).key(key).range("bytes=" + offset + "-" + (offset + length - 1)));
                byte[] data = r.asByteArray();
                if (data.length > length) {
                    // a server that ignores Range sends the whole object
                    long end = Math.min(data.length, offset + length);
                    return offset >= data.length ? new byte[0] : Arrays.copyOfRange(data, (int) offset, (int) end);
                }
                return data;
            } catch (SdkServiceException e) {
                if (e.statusCode() == 416) {
                    return new byte[0]; // offset at or past the end
                }
                throw e;
            }
        });
    }

    @Override
    public List<ObjectInfo> list(String listPrefix) {
        ObjectStore.checkPrefix(listPrefix);
        return call("list", listPrefix, () -> {
            List<ObjectInfo> found = new ArrayList<>();
            for (S3Object o : client.listObjectsV2Paginator(
                            r -> r.bucket(bucket).prefix(prefix + listPrefix))
                    .contents()) {
                String name = o.key().substring(prefix.length());
                if (!name.isEmpty() && !name.endsWith("/")) { // skip "directory" markers made by consoles
                    found.add(new ObjectInfo(
                            name,
                            o.size() == null ? 0 : o.size(),
                            o.lastModified() == null ? Instant.EPOCH : o.lastModified()));
                }
            }
            found.sort((a, b) -> NAME_ORDER.compare(a.name(), b.name()));
            return List.copyOf(found);
        });
    }

    @Override
    public Optional<ObjectInfo> stat(String name) {
        String key = key(name);
        return call("stat", name, () -> {
            try {
                HeadObjectResponse h = client.headObject(r -> r.bucket(bucket).key(key));
                return Optional.of(new ObjectInfo(
                        name,
                        h.contentLength() == null ? 0 : h.contentLength(),
                        h.lastModified() == null ? Instant.EPOCH : h.lastModified()));
            } catch (SdkServiceException e) {
                if (isNoSuchKey(e)) {
                    return Optional.empty();
                }
                throw e;
            }
        });
    }

    @Override
    public void delete(Collection<String> names) {
        List<String> keys = names.stream().map(this::key).toList();
        int from = 0;
        while (from < keys.size() && batchDeletes) {
            List<String> batch = keys.subList(from, Math.min(keys.size(), from + DELETE_BATCH));
            try {
                deleteBatch(batch);
            } catch (ObjectStoreException e) {
                if (e.status() != 501) {
                    throw e;
                }
                // e.g. a server that rejects the SDK's x-amz-checksum-crc32 on DeleteObjects: one by one from now on
                batchDeletes = false;
                log.info("{} does not take DeleteObjects ({}); deleting one object per request", url, e.getMessage());
                break;
            }
            from += batch.size();
        }
        for (String key : keys.subList(from, keys.size())) {
            String name = key.substring(prefix.length());
            call("delete", name, () -> {
                try {
                    return client.deleteObject(r -> r.bucket(bucket).key(key));
                } catch (SdkServiceException e) {
                    if (isNoSuchKey(e)) {
                        return null;
                    }
                    throw e;
                }
            });
        }
    }

    private void deleteBatch(List<String> keys) {
        List<ObjectIdentifier> ids = keys.stream()
                .map(k -> ObjectIdentifier.builder().key(k).build())
                .toList();
        String first = keys.getFirst().substring(prefix.length());
        DeleteObjectsResponse r = call(
                "delete",
                first,
                () -> client.deleteObjects(
                        d -> d.bucket(bucket).delete(x -> x.objects(ids).quiet(true))));
        for (S3Error e : r.errors()) {
            if (!"NoSuchKey".equals(e.code())) {
                String key = e.key() == null ? "" : e.key();
                throw new ObjectStoreException(
                        url,
                        "delete",
                        key.startsWith(prefix) ? key.substring(prefix.length()) : first,
                        0,
                        e.code() != null && RETRYABLE_CODES.contains(e.code()),
                        e.code() + ": " + e.message() + " (" + r.errors().size() + " of " + keys.size()
                                + " objects not deleted)",
                        null);
            }
        }
    }

    @Override
    public Optional<Versioned> getVersioned(String name) {
        String key = key(name);
        return call("get", name, () -> {
            try {
                ResponseBytes<GetObjectResponse> r =
                        client.getObjectAsBytes(g -> g.bucket(bucket).key(key));
                return Optional.of(new Versioned(r.asByteArray(), r.response().eTag()));
            } catch (SdkServiceException e) {
                if (isNoSuchKey(e)) {
                    return Optional.empty();
                }
                throw e;
            }
        });
    }

    @Override
    public boolean putIfAbsent(String name, byte[] data) {
        String key = key(name);
        if (!conditionalWrites()) {
            if (stat(name).isPresent()) {
                return false;
            }
            put(name, data);
            return true;
        }
        return conditionalPut(
                "putIfAbsent",
                name,
                data,
                putRequest(key, data).ifNoneMatch("*").build());
    }

    @Override
    public boolean putIfMatch(String name, byte[] data, String etag) {
        String key = key(name);
        if (!conditionalWrites()) {
            Optional<Versioned> current = getVersioned(name);
            if (current.isEmpty() || !current.get().etag().equals(etag)) {
                return false;
            }
            put(name, data);
            return true;
        }
        return conditionalPut(
                "putIfMatch", name, data, putRequest(key, data).ifMatch(etag).build());
    }

    private boolean conditionalPut(String op, String name, byte[] data, PutObjectRequest request) {
        return call(op, name, () -> {
            try {
                client.putObject(request, RequestBody.fromBytes(data));
                return true;
            } catch (SdkServiceException e) {
                if (preconditionFailed(e)) {
                    return false;
                }
                throw e;
            }
        });
    }

    // 412: the condition failed; 404: If-Match on a deleted object. (409 ConditionalRequestConflict, a concurrent
    // operation on the key, is not an answer: it is retryable, and GuardedStore asks again.)
    private static boolean preconditionFailed(SdkServiceException e) {
        return e.statusCode() == 412 || (e.statusCode() == 404 && isNoSuchKey(e));
    }

    @Override
    public boolean conditionalWrites() {
        Boolean known = conditional;
        if (known != null) {
            return known;
        }
        synchronized (this) {
            if (conditional == null) {
                conditional = probeConditionalWrites();
                if (conditional) {
                    log.info("{} enforces conditional writes", url);
                } else {
                    log.warn("{} does not enforce conditional writes: two writers could race on one object", url);
                }
            }
            return conditional;
        }
    }

    // a fresh object, then a create-if-absent over it and a replace-if-etag-matches with a wrong etag: both must fail
    private boolean probeConditionalWrites() {
        String name = ".caskade-probe-"
                + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong());
        String key = key(name);
        byte[] first = "probe-1".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        byte[] second = "probe-2".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        put(name, first);
        try {
            boolean noneMatch =
                    probeRefused(name, putRequest(key, second).ifNoneMatch("*").build(), second);
            boolean match = probeRefused(
                    name,
                    putRequest(key, second)
                            .ifMatch("\"00000000000000000000000000000000\"")
                            .build(),
                    second);
            return noneMatch && match;
        } finally {
            try {
                delete(List.of(name));
            } catch (ObjectStoreException e) {
                log.warn("could not delete the probe object {} at {}: {}", name, url, e.getMessage());
            }
        }
    }

    private boolean probeRefused(String name, PutObjectRequest request, byte[] data) {
        return call("put", name, () -> {
            try {
                client.putObject(request, RequestBody.fromBytes(data));
                log.info("{} ignored a conditional header on PutObject (the write went through)", url);
                return false;
            } catch (SdkServiceException e) {
                if (preconditionFailed(e)) {
                    return true;
                }
                if (e.statusCode() == 501 || e.statusCode() == 400) {
                    log.info("{} rejects conditional PutObject: {}", url, e.getMessage());
                    return false;
                }
                throw e;
            }
        });
    }

    @Override
    public String url() {
        return url;
    }

    @Override
    public void close() {
        client.close();
    }

    @Override
    public String toString() {
        return "S3Store[" + url + (options.endpoint() == null ? "" : " at " + options.endpoint()) + "]";
    }

    private String key(String name) {
        return prefix + ObjectStore.checkName(name);
    }

    private static boolean isNoSuchKey(SdkServiceException e) {
        if (e.statusCode() != 404) {
            return false;
        }
        String code = e instanceof AwsServiceException a && a.awsErrorDetails() != null
                ? a.awsErrorDetails().errorCode()
                : null;
        // HEAD answers carry no body, so no code: a 404 there means the key (a missing bucket fails elsewhere too)
        return code == null || code.equals("NoSuchKey") || code.equals("NotFound");
    }

    private <T> T call(String op, String name, Supplier<T> body) {
        try {
            return body.get();
        } catch (SdkException e) {
            throw failure(op, name, e);
        }
    }

    private ObjectStoreException failure(String op, String name, SdkException e) {
        if (e instanceof SdkServiceException s) {
            String code = s instanceof AwsServiceException a && a.awsErrorDetails() != null
                    ? a.awsErrorDetails().errorCode()
                    : null;
            if (isNoSuchKey(s) && name != null && !op.equals("list") && !op.equals("delete")) {
                return new NoSuchObjectException(url, op, name, e);
            }
            int status = s.statusCode();
            boolean retryable = status >= 500 || status == 429 || (code != null && RETRYABLE_CODES.contains(code));
            String detail = (code == null ? "" : code + ": ")
                    + (s instanceof AwsServiceException a && a.awsErrorDetails() != null
                            ? a.awsErrorDetails().errorMessage()
                            : s.getMessage())
                    + (s.requestId() == null ? "" : " (request id " + s.requestId() + ")");
            return new ObjectStoreException(url, op, name, status, retryable, detail, e);
        }
        boolean retryable = e instanceof ApiCallAttemptTimeoutException
                || e instanceof ApiCallTimeoutException
                || (e instanceof SdkClientException
                        && (hasIoCause(e) || String.valueOf(e.getMessage()).contains("nmarshall")));
        return new ObjectStoreException(url, op, name, 0, retryable, e.getMessage(), e);
    }

    private static boolean hasIoCause(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof IOException || t instanceof UncheckedIOException) {
                return true;
            }
        }
        return false;
    }

    private static String md5(byte[] data) {
        try {
            MessageDigest md = MessageDigest.getInstance("MD5");
            md.update(data);
            return Base64.getEncoder().encodeToString(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
