package io.canaryproxy.admin;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command line's answers that need no running proxy. */
class MainTest {

    @TempDir
    Path dir;

    record Result(int status, String out, String err) {
    }

    static Result run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int status = Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
        return new Result(status, out.toString(), err.toString());
    }

    @Test
    void missingConfigFileIsOneLineAndExitStatus2() {
        Path missing = dir.resolve("nope.conf");
        Result r = run("--config", missing.toString());
        assertThat(r.status()).isEqualTo(2);
        assertThat(r.err()).isEqualTo("canary-proxy: config file " + missing + " not found (choose one with"
                + " --config FILE)" + System.lineSeparator());
        assertThat(r.out()).isEmpty();
    }

    /** README: "A bad config stops the start with one line per problem". */
    @Test
    void eachProblemOfABadConfigHasALineOfItsOwn() throws Exception {
        Path file = dir.resolve("bad.conf");
        Files.writeString(file, """
                proxy {
                  threads = many
                  helth-check.interval = 2s
                  releases.blue.endpoints = ["127.0.0.1:8001"]
                  routing.stable = blue
                }
                """);
        Result r = run("--config", file.toString());
        assertThat(r.status()).isEqualTo(2);
        assertThat(r.err().lines()).containsExactly(
                "canary-proxy: 2 problems in the configuration:",
                "  unknown key proxy.helth-check (in " + file + ":3); did you mean proxy.health-check?",
                "  proxy.threads = \"many\": expected a whole number from 0 to 1024 (0 = one per core) (in " + file
                        + ":2)");
    }

    @Test
    void theDefaultConfigFileIsRelativeToTheWorkingDirectory() {
        Result r = run();
        if (!Files.exists(Path.of("conf/canary-proxy.conf"))) {
            assertThat(r.status()).isEqualTo(2);
            assertThat(r.err()).startsWith("canary-proxy: config file conf/canary-proxy.conf (")
                    .contains(Path.of("conf/canary-proxy.conf").toAbsolutePath().toString())
                    .doesNotContain("Exception")
                    .hasLineCount(1);
        }
    }

    @Test
    void aDirectoryIsNotAConfigFile() {
        Result r = run("-c", dir.toString());
        assertThat(r.status()).isEqualTo(2);
        assertThat(r.err()).isEqualTo("canary-proxy: config file " + dir + " is a directory"
                + System.lineSeparator());
    }

    @Test
    void help() {
        Result r = run("--help");
        assertThat(r.status()).isZero();
        assertThat(r.out()).contains("Usage: canary-proxy").contains("--config").contains("--demo").contains("demo");
        assertThat(r.err()).isEmpty();

        Result demo = run("demo", "--help");
        assertThat(demo.status()).isZero();
        assertThat(demo.out()).contains("Usage: canary-proxy demo").contains("--listen");
    }

    @Test
    void version() {
        Result r = run("--version");
        assertThat(r.status()).isZero();
        assertThat(r.out()).startsWith("canary-proxy ").doesNotContain("unknown").doesNotContain("${");
    }

    @Test
    void unknownOptionIsAUsageError() {
        Result r = run("--bogus");
        assertThat(r.status()).isEqualTo(2);
        assertThat(r.err()).contains("Unknown option: '--bogus'");
    }

    @Test
    void listenWithoutDemoIsAUsageError() {
        Result r = run("--listen", "127.0.0.1:8081");
        assertThat(r.status()).isEqualTo(2);
        assertThat(r.err()).contains("--listen and --admin are for the demo");
    }

    @Test
    void badDemoAddressIsAUsageErrorBeforeAnythingStarts() {
        Result r = run("demo", "--listen", "nonsense");
        assertThat(r.status()).isEqualTo(2);
        assertThat(r.err()).contains("--listen \"nonsense\": expected host:port")
                .as("the usage of the command that was run").contains("Usage: canary-proxy demo");

        Result alias = run("--demo", "--admin", "127.0.0.1:99999");
        assertThat(alias.status()).isEqualTo(2);
        assertThat(alias.err()).contains("--admin \"127.0.0.1:99999\": port must be between 0 and 65535");
    }

    @Test
    void configWithTheDemoIsAUsageError() {
        for (String[] args : new String[][] {{"--config", "/nonexistent.conf", "demo"},
                {"--demo", "--config", "/nonexistent.conf"}}) {
            Result r = run(args);
            assertThat(r.status()).as(String.join(" ", args)).isEqualTo(2);
            assertThat(r.err()).contains("--config is not for the demo");
        }
    }

    @Test
    void aListenHostThatDoesNotResolveIsAConfigErrorOnOneLine() {
        Result r = run("demo", "--listen", "no-such-host.invalid:8080", "--admin", "127.0.0.1:0");
        assertThat(r.status()).isEqualTo(2);
        assertThat(r.err()).isEqualTo("canary-proxy: proxy.listen = \"no-such-host.invalid:8080\": cannot resolve the"
                + " host name" + System.lineSeparator());
    }

    @Test
    void bindFailuresAreRecognisedInTheCauseChain() {
        assertThat(Main.bindFailure(new RuntimeException(new java.net.BindException("Address already in use"))))
                .isEqualTo("Address already in use");
        assertThat(Main.bindFailure(new java.io.IOException("bind(..) failed: Address already in use")))
                .isEqualTo("Address already in use");
        // as proxy-core reports it with the native transport
        assertThat(Main.bindFailure(new java.io.UncheckedIOException(new java.io.IOException(
                "cannot listen on 127.0.0.1:8080: bind(..) failed with error(-98): Address already in use",
                new java.io.IOException("bind(..) failed with error(-98): Address already in use")))))
                .isEqualTo("Address already in use");
        assertThat(Main.bindFailure(new java.net.BindException("Cannot assign requested address")))
                .isEqualTo("Cannot assign requested address");
        assertThat(Main.bindFailure(new IllegalStateException("x", new java.io.IOException("connection reset"))))
                .isNull();
    }

    @Test
    void messagesAreKeptOnOneLine() {
        assertThat(Main.oneLine("a\n  b\r\nc ")).isEqualTo("a; b; c");
        assertThat(Main.oneLine("2 problems in the configuration:\n  proxy.a = 1: x\n  proxy.b = 2: y"))
                .isEqualTo("2 problems in the configuration: proxy.a = 1: x; proxy.b = 2: y");
    }
}
