package dev.caskade.server;

import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;

/**
 * TLS for both listeners, from PEM files: the certificate (chain) and its unencrypted PKCS#8 private key
 * ({@code -----BEGIN PRIVATE KEY-----}, which is what {@code openssl req -newkey} writes; convert a PKCS#1
 * {@code BEGIN RSA PRIVATE KEY} with {@code openssl pkcs8 -topk8 -nocrypt}).
 *
 * @param cert the PEM certificate chain, server certificate first
 * @param key the PEM private key
 */
public record Tls(Path cert, Path key) {

    /** Both files are required. */
    public Tls {
        Objects.requireNonNull(cert, "tls cert");
        Objects.requireNonNull(key, "tls key");
    }

    /** The server context, with the JDK's TLS (no native library needed); the message names the bad file. */
    SslContext context() {
        for (Path p : new Path[] {cert, key}) {
            if (!Files.isReadable(p)) throw new IllegalArgumentException("cannot read TLS file " + p);
        }
        try {
            return SslContextBuilder.forServer(cert.toFile(), key.toFile())
                    .sslProvider(SslProvider.JDK)
                    .build();
        } catch (Exception e) { // SSLException, or IllegalArgumentException for a key it cannot parse
            throw new IllegalArgumentException(
                    "cannot use TLS certificate " + cert + " with key " + key + ": " + e.getMessage()
                            + " (the key must be an unencrypted PKCS#8 PEM, BEGIN PRIVATE KEY)",
                    e);
        }
    }
}
