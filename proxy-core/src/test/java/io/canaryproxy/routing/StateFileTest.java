package io.canaryproxy.routing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.config.ConfigException;
import io.canaryproxy.config.ProxyConfig;
import io.canaryproxy.testing.CountingBackend;
import io.canaryproxy.testing.TestConfigs;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The route table survives a restart of the proxy. */
class StateFileTest {

    @TempDir
    Path dir;

    private ProxyConfig config(Path stateFile, String blue, String green) {
        return TestConfigs.parse("""
                proxy {
                  releases.blue.endpoints = ["%s"]
                  releases.green.endpoints = ["%s"]
                  routing.stable = blue
                  health-check.interval = 0
                  state-file = "%s"
                }
                """.formatted(blue, green, stateFile));
    }

    @Test
    void aRestartedProxyComesBackWithTheReleaseLastSwitchedTo() throws Exception {
        Path state = dir.resolve("var/state.json");
        try (CountingBackend blue = new CountingBackend(); CountingBackend green = new CountingBackend()) {
            ProxyConfig config = config(state, blue.endpoint(), green.endpoint());
            try (CanaryProxy proxy = CanaryProxy.start(config)) {
                assertThat(proxy.routes().stable()).isEqualTo("blue");
                proxy.switchTo("green", false);
            }
            assertThat(Files.readString(state)).contains("\"stable\" : \"green\"");

            try (CanaryProxy restarted = CanaryProxy.start(config)) {
                assertThat(restarted.routes().stable()).isEqualTo("green");
                assertThat(restarted.routes().version()).isEqualTo(1);
            }
        }
    }

    /**
     * A second proxy started on the same state file by mistake would replace the first one's table without a word,
     * and the next start would take whichever wrote last: it is refused while the first runs.
     */
    @Test
    void aSecondProxyOnTheSameStateFileIsRefusedWhileTheFirstRuns() throws Exception {
        Path state = dir.resolve("var/state.json");
        try (CountingBackend blue = new CountingBackend(); CountingBackend green = new CountingBackend()) {
            ProxyConfig config = config(state, blue.endpoint(), green.endpoint());
            try (CanaryProxy first = CanaryProxy.start(config)) {
                assertThatThrownBy(() -> CanaryProxy.start(config))
                        .isInstanceOf(ConfigException.class)
                        .hasMessage("proxy.state-file = \"" + state + "\": is in use by another canary-proxy (process "
                                + ProcessHandle.current().pid() + "), which holds " + state + ".lock; give each proxy a"
                                + " state file of its own");
                // The refused start closed nothing of the first one's: another process still finds the lock held.
                assertThat(lockableByAnotherProcess(state.resolveSibling("state.json.lock"))).isFalse();
                first.switchTo("green", false);
            }
            assertThat(lockableByAnotherProcess(state.resolveSibling("state.json.lock"))).isTrue();
            try (CanaryProxy next = CanaryProxy.start(config)) {
                assertThat(next.routes().stable()).as("the first one's table, whole").isEqualTo("green");
            }
        }
    }

    /** Whether a process other than this JVM gets a POSIX lock on {@code file} at once, as a second proxy would. */
    private static boolean lockableByAnotherProcess(Path file) throws Exception {
        Process p = new ProcessBuilder("python3", "-c", "import fcntl, sys\n"
                + "f = open(sys.argv[1], 'r+')\n"
                + "try:\n    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept OSError:\n    sys.exit(1)\n",
                file.toString()).redirectErrorStream(true).start();
        assertThat(p.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        return p.exitValue() == 0;
    }

    /** A state file kept elsewhere through a link (a mounted volume) is written there; the link stays a link. */
    @Test
    void aStateFileBehindASymbolicLinkIsWrittenThrough() throws Exception {
        Path volume = Files.createDirectories(dir.resolve("volume"));
        Path target = volume.resolve("state.json");
        new StateFile(target).write(new RouteTable("blue", null, 0, 3, Instant.now()));
        Path link = Files.createSymbolicLink(dir.resolve("state.json"), target);
        try (CountingBackend blue = new CountingBackend(); CountingBackend green = new CountingBackend();
             CanaryProxy proxy = CanaryProxy.start(config(link, blue.endpoint(), green.endpoint()))) {
            assertThat(proxy.routes().version()).isEqualTo(3);
            proxy.switchTo("green", false);

            assertThat(Files.isSymbolicLink(link)).isTrue();
            assertThat(new StateFile(target).read()).hasValueSatisfying(t -> assertThat(t.stable()).isEqualTo("green"));
        }
    }

    /** A link to nothing is a volume not mounted yet: starting from routing.stable could route users anywhere. */
    @Test
    void aStateFileLinkThatLeadsNowhereStopsTheStart() throws Exception {
        Path link = Files.createSymbolicLink(dir.resolve("state.json"), dir.resolve("unmounted/state.json"));
        try (CountingBackend blue = new CountingBackend(); CountingBackend green = new CountingBackend()) {
            assertThatThrownBy(() -> CanaryProxy.start(config(link, blue.endpoint(), green.endpoint())))
                    .isInstanceOf(ConfigException.class)
                    .hasMessage("proxy.state-file = \"" + link + "\": is a symbolic link to "
                            + dir.resolve("unmounted/state.json") + ", which does not exist (a volume not mounted"
                            + " yet?); starting from routing.stable could send users to a release that is not running");
        }
    }

    @Test
    void aStateFileNamingAReleaseTheConfigLacksStopsTheStart() throws Exception {
        Path state = dir.resolve("state.json");
        new StateFile(state).write(new RouteTable("blue", "purple", 1000, 7, Instant.now()));
        try (CountingBackend blue = new CountingBackend(); CountingBackend green = new CountingBackend()) {
            assertThatThrownBy(() -> CanaryProxy.start(config(state, blue.endpoint(), green.endpoint())))
                    .isInstanceOf(ConfigException.class)
                    .hasMessage("proxy.state-file = \"" + state + "\": routes users to release 'purple', which"
                            + " proxy.releases does not have (known: blue, green). Add it back, or remove the state"
                            + " file to start with routing.stable = blue from the configuration");
        }
    }

    /** Falling back to routing.stable would send users to a release that may have been stopped since. */
    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', quoteCharacter = '`', textBlock = """
            empty                  | ``                                                  | the file is empty
            cut short              | `{"stable" : "gre`                                  | not valid JSON at line 1, column 17 (Unexpected end-of-input in VALUE_STRING)
            not JSON               | `stable: green`                                     | not valid JSON at line 1, column 1 (Unrecognized token 'stable'
            an array               | `["green"]`                                         | not a JSON object
            two objects            | `{"stable" : "green", "weight" : 0, "version" : 3} {"stable" : "blue"}` | not valid JSON at line 1, column 51 (more after the object)
            no stable              | `{"canary" : null, "weight" : 0, "version" : 3}`    | no "stable"
            stable not a name      | `{"stable" : 5, "weight" : 0, "version" : 3}`       | "stable" is 5, not a release name
            weight out of range    | `{"stable" : "green", "canary" : "blue", "weight" : 200, "version" : 3}` | "weight" is 200
            weight not a number    | `{"stable" : "green", "canary" : "blue", "weight" : "ten", "version" : 3}` | "weight" is "ten"
            weight too precise     | `{"stable" : "green", "canary" : "blue", "weight" : 12.345, "version" : 3}` | "weight" is 12.345
            negative version       | `{"stable" : "green", "weight" : 0, "version" : -7}` | "version" is -7
            no weight              | `{"stable" : "green", "version" : 1}`                | no "weight"
            no version             | `{"stable" : "green", "weight" : 0}`                 | no "version"
            canary is stable       | `{"stable" : "green", "canary" : "green", "weight" : 5, "version" : 3}` | the canary cannot be the stable release
            """)
    void aStateFileThatIsThereButUnusableStopsTheStart(String name, String content, String problem)
            throws Exception {
        Path state = dir.resolve("state.json");
        Files.writeString(state, content == null ? "" : content);
        try (CountingBackend blue = new CountingBackend(); CountingBackend green = new CountingBackend()) {
            assertThatThrownBy(() -> CanaryProxy.start(config(state, blue.endpoint(), green.endpoint())))
                    .isInstanceOf(ConfigException.class)
                    .hasMessageStartingWith("proxy.state-file = \"" + state + "\": cannot be read: " + problem)
                    .hasMessageEndingWith(". Fix it, or remove it to start with routing.stable = blue from the"
                            + " configuration")
                    .hasMessageNotContaining("Source");
        }
    }

    @Test
    void writesAreAtomicAndLeaveNoTemporaryFiles() throws Exception {
        Path state = dir.resolve("state.json");
        StateFile file = new StateFile(state);
        for (int i = 0; i < 20; i++) {
            file.write(new RouteTable(i % 2 == 0 ? "blue" : "green", null, 0, i, Instant.now()));
        }
        assertThat(file.read()).get().extracting(RouteTable::stable, RouteTable::version).containsExactly("green", 19L);
        try (var files = Files.list(dir)) {
            assertThat(files).containsExactly(state);
        }
    }

    /**
     * A proxy killed between making its temporary file and renaming it left one; the next start removes it, but
     * not one just made, which may be another proxy's write in progress.
     */
    @Test
    void theTemporaryFilesOfAKilledWriterAreRemovedAtStart() throws Exception {
        Path state = dir.resolve("state.json");
        java.nio.file.attribute.FileTime longAgo = java.nio.file.attribute.FileTime.from(
                Instant.now().minus(Duration.ofMinutes(2)));
        Path left = Files.setLastModifiedTime(Files.writeString(dir.resolve("state.json3732912645572935402.tmp"),
                "{\"stable\""), longAgo);
        Path analysisLeft = Files.setLastModifiedTime(Files.writeString(dir.resolve("state.analysis.json81234.tmp"),
                "{"), longAgo);
        Path other = Files.setLastModifiedTime(Files.writeString(dir.resolve("state.json.bak.tmp"), "kept"), longAgo);
        Path beingWritten = Files.writeString(dir.resolve("state.json5550123.tmp"), "{");
        try (CountingBackend blue = new CountingBackend(); CountingBackend green = new CountingBackend();
             CanaryProxy proxy = CanaryProxy.start(config(state, blue.endpoint(), green.endpoint()))) {
            assertThat(left).doesNotExist();
            assertThat(analysisLeft).doesNotExist();
            assertThat(other).exists();
            assertThat(beingWritten).exists();
        }
    }

    @Test
    void aStateFileThatCannotBeWrittenAtStartIsAConfigError() throws Exception {
        // a file where its directory should be: fails for root too, unlike a read-only directory
        Path notADirectory = Files.writeString(dir.resolve("var"), "a file\n");
        Path state = notADirectory.resolve("state.json");
        try (CountingBackend blue = new CountingBackend(); CountingBackend green = new CountingBackend()) {
            assertThatThrownBy(() -> CanaryProxy.start(config(state, blue.endpoint(), green.endpoint())))
                    .isInstanceOf(ConfigException.class)
                    .hasMessage("proxy.state-file = \"" + state + "\": cannot be written (" + notADirectory
                            + ": Not a directory); every switch would fail. Give a writable path, or \"\" to keep"
                            + " the route table in memory only");
            assertThatThrownBy(() -> CanaryProxy.start(config(dir, blue.endpoint(), green.endpoint())))
                    .isInstanceOf(ConfigException.class)
                    .hasMessageStartingWith("proxy.state-file = \"" + dir + "\": cannot be written (" + dir
                            + ": Is a directory)");
        }
    }

    @Test
    void aStateFileThatCannotBeWrittenLaterRefusesTheChangeSayingWhy() throws Exception {
        Path var = dir.resolve("var");
        Path state = var.resolve("state.json");
        try (CountingBackend blue = new CountingBackend(); CountingBackend green = new CountingBackend();
             CanaryProxy proxy = CanaryProxy.start(config(state, blue.endpoint(), green.endpoint()))) {
            // the directory turns into a file after the start
            Files.delete(var.resolve("state.json.lock"));
            Files.delete(var);
            Files.writeString(var, "a file\n");
            assertThatThrownBy(() -> proxy.switchTo("green", true))
                    .isInstanceOf(UncheckedIOException.class)
                    .hasMessage("cannot write state file " + state + ": " + var + ": Not a directory");
            assertThat(proxy.routes().stable()).isEqualTo("blue");
            assertThat(proxy.routes().version()).isZero();
        }
    }

    /** A rename that fails names the state file, not the temporary file the change was written to first. */
    @Test
    void aDirectoryWhereTheStateFileShouldBeIsNamed() throws Exception {
        Path state = dir.resolve("state.json");
        try (CountingBackend blue = new CountingBackend(); CountingBackend green = new CountingBackend();
             CanaryProxy proxy = CanaryProxy.start(config(state, blue.endpoint(), green.endpoint()))) {
            Files.deleteIfExists(state); // none until the route table first changes
            Files.createDirectory(state);
            assertThatThrownBy(() -> proxy.switchTo("green", true))
                    .isInstanceOf(UncheckedIOException.class)
                    .hasMessage("cannot write state file " + state + ": Is a directory");
        }
    }
}
