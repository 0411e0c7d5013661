package io.canaryproxy.analysis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.canaryproxy.testing.Captured;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.HdrHistogram.Histogram;
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

    /** A run goes on with the steps it started with, whatever analysis.steps says by the time the proxy restarts. */
    @Test
    void theRunsStepsComeBack() throws Exception {
        AnalysisStore store = AnalysisStore.besideStateFile(dir.resolve("state.json"));
        AnalysisStore.Saved saved = new AnalysisStore.Saved("green", 2, false, 0, "", Map.of(), null,
                List.of(1.0, 5.0, 12.5, 100.0));
        store.save(saved);

        assertThat(store.read()).contains(saved);
    }

    @Test
    void stepsThatAreNoRunsStepsAreAProblemOfTheFile() throws Exception {
        AnalysisStore store = AnalysisStore.besideStateFile(dir.resolve("state.json"));
        for (String steps : List.of("[]", "[5, 5, 100]", "[50, 10, 100]", "[0, 100]", "[5, 150]", "[5, 50]",
                "[\"5\", 100]", "100")) {
            Files.writeString(store.path(), "{\"release\":\"green\",\"step\":0,\"steps\":" + steps + "}");
            assertThatThrownBy(store::read).as(steps).isInstanceOf(IOException.class)
                    .hasMessageStartingWith("\"steps\" is ");
        }
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

    /** The stable window the last steps compare latency with comes back whole: counts and latencies. */
    @Test
    void theStableWindowOfTheLastStepsComesBack() throws Exception {
        AnalysisStore store = AnalysisStore.besideStateFile(dir.resolve("state.json"));
        Histogram latency = thousandLatencies();
        Sample blue = new Sample("blue", 1000, 3, latency);
        store.save(new AnalysisStore.Saved("green", 2, false, 0, "", Map.of(), blue));

        AnalysisStore.Saved back = store.read().orElseThrow();

        assertThat(back.stableBaseline()).isEqualTo(blue);
        assertThat(back.stableBaseline().latencyMicros().getValueAtPercentile(50))
                .isEqualTo(latency.getValueAtPercentile(50));
    }

    /**
     * The stable window only stands in for stable's latency until it has a window of its own: one that cannot be
     * read is dropped with a warning, and the run, its step and its cool-downs come back, the proxy starts.
     */
    @Test
    void aStableWindowThatCannotBeReadIsDroppedAndTheRunResumes() throws Exception {
        Files.writeString(dir.resolve("state.analysis.json"), "{\"release\":\"green\",\"step\":2,\"stableBaseline\":"
                + "{\"release\":\"blue\",\"requests\":10,\"errors\":0,\"latency\":\"bm90IGEgaGlzdG9ncmFt\"},"
                + "\"cooldowns\":{\"red\":\"2030-01-01T00:00:00Z\"}}");

        try (Captured logged = Captured.from(AnalysisStore.class)) {
            AnalysisStore.Saved back = AnalysisStore.besideStateFile(dir.resolve("state.json")).read().orElseThrow();

            assertThat(back.release()).isEqualTo("green");
            assertThat(back.step()).isEqualTo(2);
            assertThat(back.cooldowns()).containsKey("red");
            assertThat(back.stableBaseline()).isNull();
            assertThat(logged.messages()).singleElement().asString()
                    .startsWith(dir.resolve("state.analysis.json") + ": the latency of \"stableBaseline\" cannot be read")
                    .endsWith("; it is dropped, and the last steps judge latency once stable has a window of its own");
        }
    }

    /** A histogram cut short (a disk that filled up, an edit), or with more latencies than requests, is dropped. */
    @Test
    void aStableWindowCutShortOrInconsistentIsDropped() throws Exception {
        AnalysisStore store = AnalysisStore.besideStateFile(dir.resolve("state.json"));
        Histogram latency = thousandLatencies();
        store.save(new AnalysisStore.Saved("green", 2, false, 0, "", Map.of(), new Sample("blue", 1000, 0, latency)));
        Path file = dir.resolve("state.analysis.json");
        String json = Files.readString(file);
        String encoded = json.replaceAll("(?s).*\"latency\":\"([^\"]+)\".*", "$1");
        byte[] whole = Base64.getDecoder().decode(encoded);
        String half = Base64.getEncoder().encodeToString(Arrays.copyOf(whole, whole.length / 2));
        Files.writeString(file, json.replace(encoded, half));

        try (Captured logged = Captured.from(AnalysisStore.class)) {
            assertThat(store.read().orElseThrow().stableBaseline()).isNull();

            Files.writeString(file, json.replace("\"requests\":1000", "\"requests\":10"));
            assertThat(store.read().orElseThrow().stableBaseline()).isNull();

            assertThat(logged.messages()).hasSize(2);
            assertThat(logged.messages().get(0)).contains("the latency of \"stableBaseline\" cannot be read");
            assertThat(logged.messages().get(1))
                    .contains("the latency of \"stableBaseline\" holds 1000 samples for 10 requests");
        }
    }

    /** 1,000 latencies spread from 37 µs to 37 ms. */
    private static Histogram thousandLatencies() {
        Histogram latency = Sample.newHistogram();
        for (int i = 1; i <= 1000; i++) {
            latency.recordValue(i * 37L);
        }
        return latency;
    }

    /** A file from before the streak and the cool-downs were kept still resumes its run. */
    @Test
    void aFileOfTheEarlierFormResumesItsRun() throws Exception {
        Files.writeString(dir.resolve("state.analysis.json"), "{\"release\":\"green\",\"step\":2,\"paused\":true}");

        assertThat(AnalysisStore.besideStateFile(dir.resolve("state.json")).read())
                .contains(new AnalysisStore.Saved("green", 2, true, 0, "", Map.of()));
    }
}
