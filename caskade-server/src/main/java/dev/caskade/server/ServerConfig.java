package dev.caskade.server;

import dev.caskade.Durability;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.JsonNode;
import tools.jackson.dataformat.yaml.YAMLMapper;

/**
 * One layer of the server's configuration: the command line, the environment, the config file, or the built-in
 * defaults. A null field is not set in this layer; {@link #over} stacks layers, the higher one winning field by
 * field, and {@link #options()} turns the stack into {@link Server.Options}. The precedence is command-line flag
 * &gt; environment variable &gt; config file &gt; default.
 *
 * <p>The config file is YAML; an unknown key or a bad value fails with the file, the key's path and what is
 * wrong. Paths in it are relative to the file's directory. Users come only from the file. {@code toString}
 * shows no credential.
 *
 * @param data the store directory
 * @param bind the address both ports bind to
 * @param respPort the Redis-protocol port, 0 for a free one
 * @param httpPort the HTTP port, 0 for a free one
 * @param durability the store's durability
 * @param insecure allow a non-loopback bind without users
 * @param tlsCert the PEM certificate for TLS on both ports
 * @param tlsKey the PEM private key for TLS on both ports
 * @param users the users and their rules
 * @param replication shipping to destinations and restoring from one ({@link ReplicationConfig})
 */
public record ServerConfig(
        Path data,
        String bind,
        Integer respPort,
        Integer httpPort,
        Durability durability,
        Boolean insecure,
        Path tlsCert,
        Path tlsKey,
        Users users,
        ReplicationConfig replication) {

    /** Nothing set. */
    public static final ServerConfig EMPTY = new ServerConfig(null, null, null, null, null, null, null, null, null);

    /** A layer without replication settings. */
    public ServerConfig(
            Path data,
            String bind,
            Integer respPort,
            Integer httpPort,
            Durability durability,
            Boolean insecure,
            Path tlsCert,
            Path tlsKey,
            Users users) {
        this(data, bind, respPort, httpPort, durability, insecure, tlsCert, tlsKey, users, null);
    }

    /** The built-in defaults, the lowest layer: ./caskade-data, 127.0.0.1, 6479, 8479, sync, no users, no TLS. */
    public static final ServerConfig DEFAULTS = new ServerConfig(
            Path.of("caskade-data"), "127.0.0.1", 6479, 8479, Durability.SYNC, false, null, null, Users.NONE);

    /** The environment variables {@link #fromEnvironment} reads, in the order of the fields. */
    public static final List<String> VARIABLES = List.of(
            "CASKADE_DATA",
            "CASKADE_BIND",
            "CASKADE_RESP_PORT",
            "CASKADE_HTTP_PORT",
            "CASKADE_DURABILITY",
            "CASKADE_INSECURE",
            "CASKADE_TLS_CERT",
            "CASKADE_TLS_KEY");

    private static final List<String> KEYS = keys();
    private static final List<String> TLS_KEYS = List.of("cert", "key");
    private static final List<String> USER_KEYS = List.of("name", "password", "token", "rules");
    private static final List<String> RULE_KEYS = List.of("prefix", "access");

    private static final YAMLMapper YAML = YAMLMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY)
            .build();

    private static List<String> keys() {
        List<String> keys =
                new ArrayList<>(List.of("data", "bind", "resp-port", "http-port", "durability", "insecure", "tls"));
        keys.addAll(ReplicationConfig.KEYS);
        keys.add("users");
        return List.copyOf(keys);
    }

    /** Checks what a layer can check alone; a bad value names its field. */
    public ServerConfig {
        if (respPort != null) port("resp-port", respPort);
        if (httpPort != null) port("http-port", httpPort);
        if (bind != null && bind.isBlank()) throw new IllegalArgumentException("bind must not be blank");
    }

    /** This layer over {@code lower}: each field not set here comes from there. */
    public ServerConfig over(ServerConfig lower) {
        return new ServerConfig(
                data != null ? data : lower.data,
                bind != null ? bind : lower.bind,
                respPort != null ? respPort : lower.respPort,
                httpPort != null ? httpPort : lower.httpPort,
                durability != null ? durability : lower.durability,
                insecure != null ? insecure : lower.insecure,
                tlsCert != null ? tlsCert : lower.tlsCert,
                tlsKey != null ? tlsKey : lower.tlsKey,
                users != null ? users : lower.users,
                replication == null
                        ? lower.replication
                        : lower.replication == null ? replication : replication.over(lower.replication));
    }

    /** The server's options: this stack over the defaults. TLS needs both the certificate and the key. */
    public Server.Options options() {
        ServerConfig c = over(DEFAULTS);
        if ((c.tlsCert == null) != (c.tlsKey == null))
            throw new IllegalArgumentException("TLS needs both a certificate and a key, but only the "
                    + (c.tlsCert == null ? "key" : "certificate") + " is given");
        Tls tls = c.tlsCert == null ? null : new Tls(c.tlsCert, c.tlsKey);
        ReplicationOptions r = c.replication == null ? ReplicationOptions.NONE : c.replication.options();
        return new Server.Options(c.data, c.bind, c.respPort, c.httpPort, c.durability, c.insecure, c.users, tls, r);
    }

    /** The layer the {@link #VARIABLES} make; an empty variable is not set. A bad value names the variable. */
    public static ServerConfig fromEnvironment(Map<String, String> env) {
        String[] v = new String[VARIABLES.size()];
        for (int i = 0; i < v.length; i++) {
            String s = env.get(VARIABLES.get(i));
            v[i] = s == null || s.isBlank() ? null : s.trim();
        }
        try {
            return new ServerConfig(
                    v[0] == null ? null : Path.of(v[0]),
                    v[1],
                    v[2] == null ? null : parsePort(VARIABLES.get(2), v[2]),
                    v[3] == null ? null : parsePort(VARIABLES.get(3), v[3]),
                    v[4] == null ? null : parseDurability(VARIABLES.get(4), v[4]),
                    v[5] == null ? null : parseBoolean(VARIABLES.get(5), v[5]),
                    v[6] == null ? null : Path.of(v[6]),
                    v[7] == null ? null : Path.of(v[7]),
                    null,
                    orNull(ReplicationConfig.fromEnvironment(env)));
        } catch (java.nio.file.InvalidPathException e) {
            throw new IllegalArgumentException("environment: bad path: " + e.getMessage(), e);
        }
    }

    /** Reads a config file. The message of a failure starts with the file and names the key. */
    public static ServerConfig load(Path file) {
        JsonNode root;
        try {
            root = YAML.readTree(Files.readAllBytes(file));
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException("config file " + file + " does not exist", e);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read config file " + file + ": " + e.getMessage(), e);
        } catch (JacksonException e) {
            throw new IllegalArgumentException(file + ": not valid YAML: " + e.getOriginalMessage(), e);
        }
        if (root == null || root.isMissingNode() || root.isNull()) return EMPTY; // an empty file
        try {
            return parse(root, file.toAbsolutePath().getParent());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    private static ServerConfig parse(JsonNode root, Path dir) {
        object(root, "the file", KEYS);
        Path tlsCert = null, tlsKey = null;
        JsonNode tls = root.get("tls");
        if (tls != null && !tls.isNull()) {
            object(tls, "tls", TLS_KEYS);
            tlsCert = path(tls, "cert", "tls.cert", dir);
            tlsKey = path(tls, "key", "tls.key", dir);
        }
        String durability = string(root, "durability", "durability");
        Boolean insecure = null;
        JsonNode in = root.get("insecure");
        if (in != null && !in.isNull()) {
            if (!in.isBoolean()) throw new IllegalArgumentException("insecure must be true or false, got " + in);
            insecure = in.booleanValue();
        }
        return new ServerConfig(
                path(root, "data", "data", dir),
                string(root, "bind", "bind"),
                port(root, "resp-port"),
                port(root, "http-port"),
                durability == null ? null : parseDurability("durability", durability),
                insecure,
                tlsCert,
                tlsKey,
                users(root.get("users")),
                orNull(ReplicationConfig.parse(root, dir)));
    }

    /** No replication setting in a layer is no replication layer, so such a layer equals one made without it. */
    private static ReplicationConfig orNull(ReplicationConfig c) {
        return c.equals(ReplicationConfig.EMPTY) ? null : c;
    }

    private static Users users(JsonNode node) {
        if (node == null || node.isNull()) return null;
        if (!node.isArray()) throw new IllegalArgumentException("users must be a list of users");
        List<User> users = new ArrayList<>();
        for (int i = 0; i < node.size(); i++) {
            JsonNode u = node.get(i);
            String at = "users[" + i + "]";
            object(u, at, USER_KEYS);
            String name = string(u, "name", at + ".name");
            if (name == null) throw new IllegalArgumentException(at + ".name is missing");
            at = at + " (" + name + ")";
            Credential password = credential(u, "password", at);
            Credential token = credential(u, "token", at);
            if (password == null && token == null)
                throw new IllegalArgumentException(at + " needs a password or a token to log in with");
            List<Rule> rules = new ArrayList<>();
            JsonNode rs = u.get("rules");
            if (rs != null && !rs.isNull()) {
                if (!rs.isArray()) throw new IllegalArgumentException(at + ".rules must be a list of rules");
                for (int j = 0; j < rs.size(); j++) {
                    String rat = at + ".rules[" + j + "]";
                    JsonNode r = rs.get(j);
                    object(r, rat, RULE_KEYS);
                    String prefix = string(r, "prefix", rat + ".prefix");
                    String access = string(r, "access", rat + ".access");
                    if (prefix == null)
                        throw new IllegalArgumentException(rat + ".prefix is missing (\"\" is every key)");
                    if (access == null) throw new IllegalArgumentException(rat + ".access is missing");
                    try {
                        rules.add(Rule.of(prefix, Access.parse(access)));
                    } catch (IllegalArgumentException e) {
                        throw new IllegalArgumentException(rat + ".access: " + e.getMessage(), e);
                    }
                }
            }
            try {
                users.add(new User(name, password, token, rules));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(at + ": " + e.getMessage(), e);
            }
        }
        try {
            return Users.of(users);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("users: " + e.getMessage(), e);
        }
    }

    private static Credential credential(JsonNode user, String key, String at) {
        String s = string(user, key, at + "." + key);
        if (s == null) return null;
        try {
            return Credential.parse(s);
        } catch (IllegalArgumentException e) {
            // the message never repeats the value: it may be a password someone pasted in clear
            throw new IllegalArgumentException(at + "." + key + ": " + e.getMessage(), e);
        }
    }

    /** Fails on a key that is not in {@code known}, which is how a typo shows up. */
    static void object(JsonNode node, String what, List<String> known) {
        if (node == null || !node.isObject())
            throw new IllegalArgumentException(what + " must be a mapping of keys to values");
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            if (!known.contains(e.getKey())) {
                String where = what.equals("the file") ? "" : " in " + what;
                throw new IllegalArgumentException(
                        "unknown key '" + e.getKey() + "'" + where + " (known keys: " + String.join(", ", known) + ")");
            }
        }
    }

    private static String string(JsonNode node, String key, String field) {
        JsonNode v = node.get(key);
        if (v == null || v.isNull()) return null;
        if (!v.isString() && !v.isNumber() && !v.isBoolean())
            throw new IllegalArgumentException(field + " must be a single value, got a " + kind(v));
        return v.asString();
    }

    private static Path path(JsonNode node, String key, String field, Path dir) {
        String s = string(node, key, field);
        if (s == null) return null;
        if (s.isBlank()) throw new IllegalArgumentException(field + " must not be empty");
        try {
            return dir.resolve(s);
        } catch (java.nio.file.InvalidPathException e) {
            throw new IllegalArgumentException(field + ": bad path: " + e.getMessage(), e);
        }
    }

    private static Integer port(JsonNode node, String key) {
        JsonNode v = node.get(key);
        if (v == null || v.isNull()) return null;
        if (v.isIntegralNumber() && v.canConvertToInt()) return port(key, v.intValue());
        if (v.isString()) return parsePort(key, v.stringValue());
        throw new IllegalArgumentException(key + " must be a port number in 0..65535, got " + v);
    }

    private static String kind(JsonNode v) {
        return v.getNodeType()
                .name()
                .toLowerCase(Locale.ROOT)
                .replace("object", "mapping")
                .replace("array", "list");
    }

    private static int port(String field, int port) {
        if (port < 0 || port > 65535)
            throw new IllegalArgumentException(field + " must be a port number in 0..65535, got " + port);
        return port;
    }

    private static int parsePort(String field, String text) {
        try {
            return port(field, Integer.parseInt(text.trim()));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(field + " must be a port number in 0..65535, got '" + text + "'", e);
        }
    }

    private static Durability parseDurability(String field, String text) {
        try {
            return Durability.parse(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(field + ": " + e.getMessage(), e);
        }
    }

    static boolean parseBoolean(String field, String text) {
        return switch (text.toLowerCase(Locale.ROOT)) {
            case "true", "1", "yes" -> true;
            case "false", "0", "no" -> false;
            default -> throw new IllegalArgumentException(field + " must be true or false, got '" + text + "'");
        };
    }
}
