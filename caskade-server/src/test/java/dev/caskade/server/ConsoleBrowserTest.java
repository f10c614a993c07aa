package dev.caskade.server;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.caskade.Durability;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.Dimension;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.logging.LogEntry;
import org.openqa.selenium.logging.LogType;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The web console in a real browser: Debian's headless Chromium driven by Selenium against a real server, with writes
 * made over the Redis protocol (a raw socket) and read back with redis-cli. Skipped when chromium or chromedriver is
 * not installed.
 */
class ConsoleBrowserTest {
    private static final Duration WAIT = Duration.ofSeconds(10);

    @TempDir
    static Path dir;

    static ChromeDriver driver;
    static Server open;
    static Server secured;

    @BeforeAll
    static void start() throws IOException {
        Path chromium = onPath("chromium");
        Path chromedriver = onPath("chromedriver");
        assumeTrue(
                chromium != null && chromedriver != null,
                "chromium or chromedriver is not installed (apt-get install chromium chromium-driver):"
                        + " the web console's browser tests are skipped");
        open = Server.start(new Server.Options(dir.resolve("open"), "127.0.0.1", 0, 0, Durability.NONE, false));
        secured = Server.start(new Server.Options(dir.resolve("secured"), "127.0.0.1", 0, 0, Durability.NONE, false)
                .withUsers(AuthFixture.USERS));
        ChromeOptions o = new ChromeOptions();
        o.setBinary(chromium.toFile());
        o.addArguments(
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
                "--user-data-dir=" + Files.createDirectories(dir.resolve("chrome-profile")));
        o.setCapability("goog:loggingPrefs", Map.of(LogType.BROWSER, "ALL"));
        driver = new ChromeDriver(
                new ChromeDriverService.Builder()
                        .usingDriverExecutable(new File(chromedriver.toString()))
                        .usingAnyFreePort()
                        .build(),
                o);
        driver.manage().window().setSize(new Dimension(1400, 900));
    }

    @AfterAll
    static void stop() {
        if (driver != null) driver.quit();
        if (secured != null) secured.close();
        if (open != null) open.close();
    }

    /** No script error on the page, whatever the test did. */
    @AfterEach
    void noScriptErrors() {
        if (driver == null) return;
        List<String> errors = driver.manage().logs().get(LogType.BROWSER).getAll().stream()
                .filter(e -> e.getLevel().intValue() >= Level.SEVERE.intValue())
                .map(LogEntry::getMessage)
                // the 401, 403, 404 and 412 answers the tests provoke on purpose are reported as failed loads
                .filter(m -> !m.contains("Failed to load resource"))
                .toList();
        assertThat(errors).as("errors in the browser's console").isEmpty();
    }

    @Test
    void aKeyWrittenOverRespAppearsWithinASecond() {
        load(open);
        awaitLive();
        String key = "live/orders/1";
        long t0 = System.nanoTime();
        assertThat(resp(open, null, "SET", key, "{\"total\":42}")).isEqualTo("OK");
        WebElement row = null;
        // bounded: a second and a bit for the assertion below to report the real time
        while (row == null && System.nanoTime() - t0 < TimeUnit.MILLISECONDS.toNanos(3000)) {
            row = driver.findElements(By.cssSelector(treeKey(key))).stream()
                    .filter(WebElement::isDisplayed)
                    .findFirst()
                    .orElse(null);
        }
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        System.out.println("ConsoleBrowserTest: the RESP write showed in the page after " + millis + " ms");
        assertThat(row).as("the key in the tree").isNotNull();
        assertThat(millis).as("ms from the RESP write to the key in the page").isLessThan(1000);
        // a tree by '/': folders live/ and orders/, the row lit up, the change in the event log
        assertThat(driver.findElement(By.cssSelector(
                                "#tree li.folder[data-folder='live/'] li.folder[data-folder='live/orders/']"))
                        .isDisplayed())
                .isTrue();
        // lit up and logged on the next animation frame
        new WebDriverWait(driver, WAIT)
                .until(ExpectedConditions.attributeContains(By.cssSelector(treeKey(key)), "class", "lit"));
        WebElement logged = new WebDriverWait(driver, WAIT)
                .until(ExpectedConditions.visibilityOfElementLocated(
                        By.cssSelector("#log tbody tr[data-key='" + key + "']")));
        assertThat(logged.getText()).contains("put", key, "{\"total\":42}");
        // the status panel follows the store
        long revision = open.store().revision();
        new WebDriverWait(driver, WAIT)
                .until(ExpectedConditions.textToBe(
                        By.cssSelector("#status dd[data-fact='revision']"), Long.toString(revision)));
        assertThat(text("#status dd[data-fact='keys']"))
                .isEqualTo(Long.toString(open.store().stats().keys()));
        assertThat(text("#status dd[data-fact='role']")).isEqualTo("primary");
        assertThat(driver.findElement(By.id("spark-line")).getAttribute("points"))
                .isNotBlank();
        // a delete takes it out of the tree again
        assertThat(resp(open, null, "DEL", key)).isEqualTo("1");
        new WebDriverWait(driver, WAIT).until(ExpectedConditions.numberOfElementsToBe(By.cssSelector(treeKey(key)), 0));
    }

    @Test
    void anEditInThePageIsReadBackWithRedisCli() throws Exception {
        resp(open, null, "SET", "edit/greeting", "hello");
        load(open);
        openKey("edit/greeting");
        waitText("#value-view", "hello");
        click("#edit");
        WebElement area = driver.findElement(By.id("value-edit"));
        area.clear();
        area.sendKeys("hello from the browser");
        click("#save");
        new WebDriverWait(driver, WAIT)
                .until(ExpectedConditions.textMatches(
                        By.id("message"), java.util.regex.Pattern.compile("Saved at revision \\d+")));
        assertThat(redisCli(open, "GET", "edit/greeting")).isEqualTo("hello from the browser");
        waitText("#value-view", "hello from the browser");

        // a new key is created only if absent (If-None-Match: *)
        click("#new-key");
        WebElement name = driver.findElement(By.id("key-name"));
        name.clear();
        name.sendKeys("edit/new");
        driver.findElement(By.id("value-edit")).sendKeys("fresh");
        click("#save");
        new WebDriverWait(driver, WAIT)
                .until(ExpectedConditions.textMatches(By.id("message"), java.util.regex.Pattern.compile("Saved")));
        assertThat(redisCli(open, "GET", "edit/new")).isEqualTo("fresh");

        // and deleted, with If-Match
        click("#delete");
        click("#delete-yes");
        new WebDriverWait(driver, WAIT)
                .until(ExpectedConditions.textMatches(
                        By.id("placeholder"), java.util.regex.Pattern.compile("Deleted edit/new")));
        assertThat(redisCli(open, "EXISTS", "edit/new")).isEqualTo("0");
    }

    @Test
    void aConflictingEditIsShownAndNothingIsOverwritten() {
        resp(open, null, "SET", "conflict/doc", "first");
        load(open);
        openKey("conflict/doc");
        waitText("#value-view", "first");
        click("#edit");
        WebElement area = driver.findElement(By.id("value-edit"));
        area.clear();
        area.sendKeys("mine");
        // someone else writes while the page edits
        resp(open, null, "SET", "conflict/doc", "theirs");
        new WebDriverWait(driver, WAIT).until(ExpectedConditions.visibilityOfElementLocated(By.id("notice")));
        assertThat(text("#notice")).contains("changed at revision");
        click("#save");
        new WebDriverWait(driver, WAIT).until(ExpectedConditions.visibilityOfElementLocated(By.id("conflict")));
        assertThat(text("#conflict-text")).contains("Someone else changed this key", "Nothing was written");
        assertThat(text("#conflict-value")).isEqualTo("theirs");
        assertThat(resp(open, null, "GET", "conflict/doc")).isEqualTo("theirs");
        assertThat(area.getAttribute("value")).as("the draft is kept").isEqualTo("mine");

        // the user decides: overwrite, still conditional on the value just shown
        click("#conflict-overwrite");
        new WebDriverWait(driver, WAIT)
                .until(ExpectedConditions.textMatches(By.id("message"), java.util.regex.Pattern.compile("Saved")));
        assertThat(resp(open, null, "GET", "conflict/doc")).isEqualTo("mine");

        // creating a key that exists meanwhile is a conflict too; reload shows the existing one
        click("#new-key");
        WebElement name = driver.findElement(By.id("key-name"));
        name.clear();
        name.sendKeys("conflict/doc");
        driver.findElement(By.id("value-edit")).sendKeys("would clobber");
        click("#save");
        new WebDriverWait(driver, WAIT).until(ExpectedConditions.visibilityOfElementLocated(By.id("conflict")));
        assertThat(text("#conflict-text")).contains("already exists");
        assertThat(text("#conflict-value")).isEqualTo("mine");
        assertThat(resp(open, null, "GET", "conflict/doc")).isEqualTo("mine");
        click("#conflict-reload");
        waitText("#value-view", "mine");
    }

    @Test
    void jsonIsPrettyPrintedAndBinaryShownAsHex() {
        resp(
                open,
                null,
                "SET",
                "view/doc",
                "{\"name\":\"ada\",\"tags\":[1,2],\"big\":12345678901234567890,\"empty\":{}}");
        respBytes(open, null, "SET".getBytes(UTF_8), "view/bin".getBytes(UTF_8), new byte[] {
            0, 1, (byte) 0xfe, (byte) 0xff, 'A'
        });
        resp(open, null, "SET", "view/text", "just text");
        load(open);
        openKey("view/doc");
        waitText("#value-kind", "json");
        // re-indented without rounding the big number
        assertThat(text("#value-view"))
                .isEqualTo(
                        "{\n  \"name\": \"ada\",\n  \"tags\": [\n    1,\n    2\n  ],\n  \"big\": 12345678901234567890,\n"
                                + "  \"empty\": {}\n}");
        openKey("view/bin");
        waitText("#value-kind", "binary · hex");
        assertThat(text("#value-view")).startsWith("00000000  00 01 fe ff 41").endsWith("....A");
        openKey("view/text");
        waitText("#value-kind", "text");
        assertThat(text("#value-view")).isEqualTo("just text");
    }

    @Test
    void theLoginFormWorksWithAConfiguredUser() {
        load(secured);
        new WebDriverWait(driver, WAIT).until(ExpectedConditions.visibilityOfElementLocated(By.id("login-form")));
        assertThat(driver.findElement(By.id("app")).isDisplayed()).isFalse();
        login("admin", "wrong");
        waitText("#login-error", "Wrong user, password or token.");
        login("admin", "admin-pw");
        new WebDriverWait(driver, WAIT).until(ExpectedConditions.visibilityOfElementLocated(By.id("app")));
        assertThat(text("#who")).isEqualTo("logged in as admin");
        awaitLive();
        // the watch carries the login too: a write over RESP (as admin) shows up
        assertThat(resp(secured, new String[] {"admin", "admin-pw"}, "SET", "secure/x", "1"))
                .isEqualTo("OK");
        new WebDriverWait(driver, WAIT)
                .until(ExpectedConditions.visibilityOfElementLocated(By.cssSelector(treeKey("secure/x"))));
        // a reload keeps the login for this tab
        driver.navigate().refresh();
        new WebDriverWait(driver, WAIT)
                .until(ExpectedConditions.visibilityOfElementLocated(By.cssSelector(treeKey("secure/x"))));

        click("#logout");
        new WebDriverWait(driver, WAIT).until(ExpectedConditions.visibilityOfElementLocated(By.id("login-form")));
        // a token, for a user who may read app/ and pub/ only: the full list is refused, a prefix it may read works
        resp(secured, new String[] {"admin", "admin-pw"}, "SET", "pub/one", "1");
        driver.findElement(By.id("login-token")).sendKeys(AuthFixture.APP_TOKEN);
        click("#login-submit");
        new WebDriverWait(driver, WAIT)
                .until(ExpectedConditions.textMatches(
                        By.id("keys-info"), java.util.regex.Pattern.compile("may not read")));
        driver.findElement(By.id("filter")).sendKeys("pub/");
        new WebDriverWait(driver, WAIT)
                .until(ExpectedConditions.visibilityOfElementLocated(By.cssSelector(treeKey("pub/one"))));
        awaitLive();
        click("#logout");
    }

    // ---------- helpers ----------

    private static void load(Server server) {
        driver.get("http://127.0.0.1:" + server.httpPort() + "/");
    }

    private static void awaitLive() {
        new WebDriverWait(driver, WAIT).until(ExpectedConditions.textToBe(By.id("conn"), "live"));
    }

    private static void login(String user, String password) {
        WebElement u = driver.findElement(By.id("login-user"));
        u.clear();
        u.sendKeys(user);
        WebElement p = driver.findElement(By.id("login-password"));
        p.clear();
        p.sendKeys(password);
        click("#login-submit");
    }

    private static String treeKey(String key) {
        return "#tree li.key[data-key='" + key + "']";
    }

    private static void openKey(String key) {
        new WebDriverWait(driver, WAIT)
                .until(ExpectedConditions.elementToBeClickable(By.cssSelector(treeKey(key) + " > .row")))
                .click();
        waitText("#key-name", null);
        new WebDriverWait(driver, WAIT).until(ExpectedConditions.attributeToBe(By.id("key-name"), "value", key));
    }

    private static void click(String css) {
        new WebDriverWait(driver, WAIT)
                .until(ExpectedConditions.elementToBeClickable(By.cssSelector(css)))
                .click();
    }

    private static String text(String css) {
        return driver.findElement(By.cssSelector(css)).getText();
    }

    private static void waitText(String css, String expected) {
        if (expected == null) return;
        new WebDriverWait(driver, WAIT).until(ExpectedConditions.textToBe(By.cssSelector(css), expected));
    }

    /** The first directory on PATH holding an executable {@code name}, or null. */
    private static Path onPath(String name) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (d.isEmpty()) continue;
            Path p = Path.of(d, name);
            if (Files.isExecutable(p)) return p;
        }
        return null;
    }

    /** The real redis-cli against the server; RESP over a socket if it is not installed. */
    private static String redisCli(Server server, String... args) throws Exception {
        if (onPath("redis-cli") == null) return resp(server, null, args);
        List<String> cmd = new java.util.ArrayList<>(List.of("redis-cli", "-p", Integer.toString(server.respPort())));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        if (!p.waitFor(10, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("redis-cli did not finish within 10 s");
        }
        return new String(p.getInputStream().readAllBytes(), UTF_8).strip();
    }

    private static String resp(Server server, String[] login, String... args) {
        byte[][] bytes = new byte[args.length][];
        for (int i = 0; i < args.length; i++) bytes[i] = args[i].getBytes(UTF_8);
        return respBytes(server, login, bytes);
    }

    /** One command on a fresh RESP connection (after AUTH when {@code login} is given); the reply as text. */
    private static String respBytes(Server server, String[] login, byte[]... args) {
        try (Socket s = new Socket("127.0.0.1", server.respPort())) {
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            DataInputStream in = new DataInputStream(s.getInputStream());
            if (login != null) {
                out.write(command(
                        new byte[][] {"AUTH".getBytes(UTF_8), login[0].getBytes(UTF_8), login[1].getBytes(UTF_8)}));
                assertThat(reply(in)).isEqualTo("OK");
            }
            out.write(command(args));
            out.flush();
            return reply(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static byte[] command(byte[][] args) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(("*" + args.length + "\r\n").getBytes(UTF_8));
        for (byte[] a : args) {
            b.writeBytes(("$" + a.length + "\r\n").getBytes(UTF_8));
            b.writeBytes(a);
            b.writeBytes("\r\n".getBytes(UTF_8));
        }
        return b.toByteArray();
    }

    private static String reply(DataInputStream in) throws IOException {
        String line = line(in);
        return switch (line.charAt(0)) {
            case '+', ':' -> line.substring(1);
            case '-' -> throw new AssertionError("RESP error: " + line);
            case '$' -> {
                int n = Integer.parseInt(line.substring(1));
                if (n < 0) yield null;
                byte[] data = new byte[n + 2];
                in.readFully(data);
                yield new String(data, 0, n, UTF_8);
            }
            default -> throw new AssertionError("unexpected RESP reply: " + line);
        };
    }

    private static String line(DataInputStream in) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (int c; (c = in.read()) != '\n'; ) {
            if (c < 0) throw new IOException("connection closed");
            if (c != '\r') b.write(c);
        }
        return b.toString(UTF_8);
    }
}
