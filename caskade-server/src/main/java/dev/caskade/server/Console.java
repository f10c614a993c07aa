package dev.caskade.server;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * The web console: {@code GET /} and {@code GET /console/<file>}, static files shipped in the jar under
 * {@code dev/caskade/server/console/}. They need no login (they hold no data; the page logs in for the API calls).
 * A file name is one path segment of safe characters with a known extension, so no request can reach another
 * resource or a file of the disk.
 */
final class Console {
    static final String PREFIX = "/console/";
    private static final String ROOT = "console/";
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_-]{0,63}\\.(html|js|css|svg)");
    private static final Map<String, String> TYPES = Map.of(
            "html", "text/html; charset=utf-8",
            "js", "text/javascript; charset=utf-8",
            "css", "text/css; charset=utf-8",
            "svg", "image/svg+xml");
    /**
     * The page talks only to this server; nothing is loaded from elsewhere, nothing inline runs, and no other site
     * may frame it.
     */
    private static final String POLICY = "default-src 'self'; img-src 'self' data:; connect-src 'self';"
            + " base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    private record Asset(String type, byte[] body, String etag) {}

    /** Files are read once; a missing one is remembered as absent. */
    private static final Map<String, Optional<Asset>> ASSETS = new ConcurrentHashMap<>();

    private Console() {}

    /** True for the paths the console serves: {@code /} and everything under {@code /console/}. */
    static boolean serves(String path) {
        return path.equals("/") || path.startsWith(PREFIX);
    }

    static HttpReply.Full answer(HttpCall call) {
        String path = call.path();
        String name = path.equals("/") ? "index.html" : path.substring(PREFIX.length());
        if (!call.method().equals(HttpMethod.GET)) {
            HttpResponseStatus s = HttpResponseStatus.METHOD_NOT_ALLOWED;
            return new HttpReply.Full(
                    s,
                    "application/json",
                    HttpJson.write(new HttpJson.Error("method not allowed", s.code())),
                    Map.of(HttpHeaderNames.ALLOW.toString(), "GET"));
        }
        Optional<Asset> found =
                NAME.matcher(name).matches() ? ASSETS.computeIfAbsent(name, Console::load) : Optional.empty();
        if (found.isEmpty()) return HttpApi.error(HttpResponseStatus.NOT_FOUND, "no console file " + path);
        Asset a = found.get();
        // revalidated on every load (no-cache), so a new jar's files are picked up at once; unchanged ones cost a 304
        Map<String, String> headers = Map.of(
                HttpHeaderNames.ETAG.toString(),
                a.etag(),
                HttpHeaderNames.CACHE_CONTROL.toString(),
                "no-cache",
                "X-Content-Type-Options",
                "nosniff",
                "Content-Security-Policy",
                POLICY,
                "Referrer-Policy",
                "no-referrer");
        String ifNoneMatch = call.headers().get(HttpHeaderNames.IF_NONE_MATCH);
        if (ifNoneMatch != null && ifNoneMatch.contains(a.etag()))
            return new HttpReply.Full(HttpResponseStatus.NOT_MODIFIED, a.type(), new byte[0], headers);
        return new HttpReply.Full(HttpResponseStatus.OK, a.type(), a.body(), headers);
    }

    private static Optional<Asset> load(String name) {
        try (InputStream in = Console.class.getResourceAsStream(ROOT + name)) {
            if (in == null) return Optional.empty();
            byte[] body = in.readAllBytes();
            String type = TYPES.get(name.substring(name.lastIndexOf('.') + 1));
            byte[] sha = MessageDigest.getInstance("SHA-256").digest(body);
            return Optional.of(new Asset(type, body, "\"" + HexFormat.of().formatHex(sha, 0, 12) + "\""));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read console file " + name, e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
