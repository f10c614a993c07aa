package dev.caskade.server;

import static java.nio.charset.StandardCharsets.US_ASCII;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.Base64;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * A self-signed certificate for 127.0.0.1 made with the JDK alone: {@code keytool} writes a PKCS#12 store,
 * from which the certificate and the PKCS#8 key are written as PEM, as an operator would hand them over.
 *
 * @param cert the PEM certificate
 * @param key the PEM private key
 * @param trust a client context that trusts exactly this certificate
 * @param truststore a PKCS#12 store (password {@code changeit}) that trusts exactly this certificate
 */
record TestCertificate(Path cert, Path key, SSLContext trust, Path truststore) {

    static TestCertificate create(Path dir) throws Exception {
        Path store = dir.resolve("server.p12");
        char[] pass = "changeit".toCharArray();
        Process keytool = new ProcessBuilder(
                        Path.of(System.getProperty("java.home"), "bin", "keytool")
                                .toString(),
                        "-genkeypair",
                        "-alias",
                        "caskade",
                        "-keyalg",
                        "EC",
                        "-groupname",
                        "secp256r1",
                        "-dname",
                        "CN=localhost",
                        "-ext",
                        "SAN=ip:127.0.0.1,dns:localhost",
                        "-validity",
                        "2",
                        "-storetype",
                        "PKCS12",
                        "-keystore",
                        store.toString(),
                        "-storepass",
                        "changeit")
                .redirectErrorStream(true)
                .start();
        String output = new String(keytool.getInputStream().readAllBytes(), US_ASCII);
        if (!keytool.waitFor(60, TimeUnit.SECONDS) || keytool.exitValue() != 0)
            throw new IllegalStateException("keytool failed: " + output);
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(store)) {
            ks.load(in, pass);
        }
        X509Certificate certificate = (X509Certificate) ks.getCertificate("caskade");
        PrivateKey privateKey = (PrivateKey) ks.getKey("caskade", pass);
        Path cert = Files.writeString(dir.resolve("cert.pem"), pem("CERTIFICATE", certificate.getEncoded()));
        Path key = Files.writeString(dir.resolve("key.pem"), pem("PRIVATE KEY", privateKey.getEncoded()));

        KeyStore trusted = KeyStore.getInstance("PKCS12");
        trusted.load(null, null);
        trusted.setCertificateEntry("caskade", certificate);
        Path truststore = dir.resolve("trust.p12");
        try (java.io.OutputStream out = Files.newOutputStream(truststore)) {
            trusted.store(out, pass);
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trusted);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, tmf.getTrustManagers(), null);
        return new TestCertificate(cert, key, context, truststore);
    }

    private static String pem(String type, byte[] der) {
        return "-----BEGIN " + type + "-----\n"
                + Base64.getMimeEncoder(64, "\n".getBytes(US_ASCII)).encodeToString(der)
                + "\n-----END " + type + "-----\n";
    }
}
