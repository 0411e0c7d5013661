package io.canaryproxy.analysis;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What a restarted proxy reads back of the analysis. */
class AnalysisStoreTest {

    @TempDir
    Path dir;

    @Test
    void aRunItsStreakTheLastOutcomeAndTheCooldownsComeBack() throws Exception {
        AnalysisStore store = AnalysisStore.besideStateFile(dir.resolve("state.json"));
        Instant until = Instant.parse("2030-01-01T00:00:00Z");
        store.save(new AnalysisStore.Saved("green", 1, false, 1, "rolled back: 2 failed checks in a row",
                Map.of("purple", until)));

        assertThat(store.read()).contains(new AnalysisStore.Saved("green", 1, false, 1,
                "rolled back: 2 failed checks in a row", Map.of("purple", until)));
        assertThat(dir.resolve("state.analysis.json")).exists();
    }

    @Test
    void noRunIsKeptAsNoRelease() throws Exception {
        AnalysisStore store = AnalysisStore.besideStateFile(dir.resolve("state.json"));
        store.save(new AnalysisStore.Saved(null, 0, false, 0, "promoted after 3 steps", Map.of()));

        assertThat(store.read()).hasValueSatisfying(saved -> {
            assertThat(saved.release()).isNull();
            assertThat(saved.outcome()).isEqualTo("promoted after 3 steps");
        });
    }

    /** A file from before the streak and the cool-downs were kept still resumes its run. */
    @Test
    void aFileOfTheEarlierFormResumesItsRun() throws Exception {
        Files.writeString(dir.resolve("state.analysis.json"), "{\"release\":\"green\",\"step\":2,\"paused\":true}");

        assertThat(AnalysisStore.besideStateFile(dir.resolve("state.json")).read())
                .contains(new AnalysisStore.Saved("green", 2, true, 0, "", Map.of()));
    }
}
