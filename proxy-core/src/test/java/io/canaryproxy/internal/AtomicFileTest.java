package io.canaryproxy.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFileTest {

    @TempDir
    Path dir;

    @Test
    void writesAFileInADirectoryItCreatesAndReplacesItWhole() throws IOException {
        Path file = dir.resolve("var/lib/state.json");

        AtomicFile.write(file, bytes("{\"stable\":\"blue\",\"weight\":10}"));
        assertThat(file).hasContent("{\"stable\":\"blue\",\"weight\":10}");

        AtomicFile.write(file, bytes("{}"));
        assertThat(file).hasContent("{}");
        assertThat(names(file.getParent())).containsExactly("state.json");
    }

    @Test
    void aWriteThatFailsLeavesTheOldFileAndNoTemporaryFile() throws IOException {
        Path taken = dir.resolve("state.json");
        Files.createDirectory(taken);
        Files.writeString(taken.resolve("inside"), "kept");

        assertThatThrownBy(() -> AtomicFile.write(taken, bytes("new"))).isInstanceOf(IOException.class);
        assertThat(taken.resolve("inside")).hasContent("kept");
        assertThat(names(dir)).containsExactly("state.json");
    }

    @Test
    void aTemporaryFileIsCreatedBesideThePath() throws IOException {
        Path file = dir.resolve("sub/state.json");
        Path tmp = AtomicFile.newTempFile(file);
        assertThat(tmp.getParent()).isEqualTo(file.getParent().toAbsolutePath());
        assertThat(tmp.getFileName().toString()).startsWith("state.json").endsWith(".tmp");
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    private static List<String> names(Path directory) throws IOException {
        try (Stream<Path> files = Files.list(directory)) {
            return files.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
