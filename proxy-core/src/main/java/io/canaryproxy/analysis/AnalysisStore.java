package io.canaryproxy.analysis;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.canaryproxy.internal.AtomicFile;
import io.canaryproxy.internal.IoFailures;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.zip.DataFormatException;
import org.HdrHistogram.Histogram;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The analysis on disk, beside the route table's state file, so that a restarted proxy resumes a run at its step
 * with its streak of failed checks and the stable window its last steps compare latency with, and keeps the
 * cool-downs of releases rolled back and the last outcome. Replaced whole, as the state file is
 * ({@link AtomicFile}). A store without a path keeps nothing.
 */
public final class AnalysisStore {

    private static final Logger log = LoggerFactory.getLogger(AnalysisStore.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * What is kept.
     *
     * @param release   the release of the run going on, or {@code null} when none is
     * @param step      its step
     * @param paused    whether it is paused
     * @param failures  its failed checks in a row
     * @param outcome   how the last run ended, or {@code ""}
     * @param cooldowns releases rolled back, to the end of their cool-down
     * @param stableBaseline the stable release's last window with at least {@code min-requests} requests, or
     *                  {@code null}: at the last steps stable has too little traffic of its own, and without it a
     *                  run resumed there would not judge latency until stable had such a window again
     * @param steps     the run's steps, which {@code step} counts in; empty in a file from before they were kept
     */
    public record Saved(String release, int step, boolean paused, int failures, String outcome,
                        Map<String, Instant> cooldowns, Sample stableBaseline, List<Double> steps) {

        public Saved {
            steps = List.copyOf(steps);
        }

        /** Without the run's steps. */
        public Saved(String release, int step, boolean paused, int failures, String outcome,
                     Map<String, Instant> cooldowns, Sample stableBaseline) {
            this(release, step, paused, failures, outcome, cooldowns, stableBaseline, List.of());
        }

        /** Without a stable window or the run's steps. */
        public Saved(String release, int step, boolean paused, int failures, String outcome,
                     Map<String, Instant> cooldowns) {
            this(release, step, paused, failures, outcome, cooldowns, null);
        }
    }

    private final Path path;

    /** What {@link #save} could not write, written again by {@link #saveIfUnsaved}; {@code null} when saved. */
    private byte[] unsaved;
    /** Read without the lock: the admin API asks for it, and must not wait for a write the retry has under way. */
    private volatile String unsavedReason;

    /** @param path the file, or {@code null} for a store that keeps nothing */
    public AnalysisStore(Path path) {
        this.path = path;
    }

    /** The file beside a route-table state file: {@code var/x.state.json} gives {@code var/x.state.analysis.json}. */
    public static AnalysisStore besideStateFile(Path stateFile) {
        if (stateFile == null) {
            return new AnalysisStore(null);
        }
        String name = stateFile.getFileName().toString();
        String base = name.endsWith(".json") ? name.substring(0, name.length() - 5) : name;
        Path path = stateFile.resolveSibling(base + ".analysis.json");
        AtomicFile.removeLeftovers(path);
        return new AnalysisStore(path);
    }

    /**
     * What was saved, or empty when there is no file (or no path).
     *
     * @throws IOException when the file cannot be read or does not hold what {@link #save} writes; fields an
     *                     earlier form of the file lacks take their defaults
     */
    public Optional<Saved> read() throws IOException {
        if (path == null || !Files.exists(path)) {
            return Optional.empty();
        }
        JsonNode n = AtomicFile.readObject(path, JSON);
        JsonNode release = n.path("release");
        if (!release.isMissingNode() && !release.isNull() && !release.isTextual()) {
            throw new IOException("\"release\" is " + release + ", not a release name or null");
        }
        Map<String, Instant> cooldowns = new LinkedHashMap<>();
        JsonNode saved = n.path("cooldowns");
        if (!saved.isMissingNode() && !saved.isObject()) {
            throw new IOException("\"cooldowns\" is " + saved + ", not an object");
        }
        for (Map.Entry<String, JsonNode> e : saved.properties()) {
            try {
                cooldowns.put(e.getKey(), Instant.parse(e.getValue().asText()));
            } catch (DateTimeParseException ex) {
                throw new IOException("the cool-down of " + e.getKey() + " is " + e.getValue() + ", not a time", ex);
            }
        }
        return Optional.of(new Saved(release.isTextual() ? release.asText() : null, count(n, "step"),
                flag(n, "paused"), count(n, "failures"), n.path("outcome").asText(""), cooldowns,
                baseline(n.path("stableBaseline")), steps(n.path("steps"))));
    }

    /**
     * The saved stable window, or {@code null} when there is none or it cannot be used: it only stands in for the
     * stable release's latency at the last steps until stable has a window of its own again, so a bad one is
     * dropped with a warning rather than stopping the start (the run, its step and its cool-downs are read whole).
     */
    private Sample baseline(JsonNode n) {
        try {
            return sample(n);
        } catch (IOException e) {
            log.warn("{}: {}; it is dropped, and the last steps judge latency once stable has a window of its own",
                    path, e.getMessage());
            return null;
        }
    }

    /** Weights in percent, each above the one before, ending with 100; none when the file has none. */
    private static List<Double> steps(JsonNode n) throws IOException {
        if (n.isMissingNode()) {
            return List.of();
        }
        List<Double> steps = new ArrayList<>();
        if (n.isArray()) {
            for (JsonNode v : n) {
                double last = steps.isEmpty() ? 0 : steps.get(steps.size() - 1);
                if (!v.isNumber() || v.asDouble() <= last || v.asDouble() > 100) {
                    steps = null;
                    break;
                }
                steps.add(v.asDouble());
            }
        }
        if (steps == null || steps.isEmpty() || steps.get(steps.size() - 1) != 100) {
            throw new IOException("\"steps\" is " + n + ", not weights in percent, each above the one before,"
                    + " ending with 100");
        }
        return steps;
    }

    /** A window as {@link #save} writes it, its latencies an HdrHistogram compressed and in Base64. */
    private static Sample sample(JsonNode n) throws IOException {
        if (n.isMissingNode() || n.isNull()) {
            return null;
        }
        JsonNode release = n.path("release");
        JsonNode requests = n.path("requests");
        JsonNode errors = n.path("errors");
        JsonNode latency = n.path("latency");
        if (!release.isTextual() || !requests.canConvertToLong() || requests.asLong() < 1
                || !errors.canConvertToLong() || errors.asLong() < 0 || errors.asLong() > requests.asLong()
                || !latency.isTextual()) {
            throw new IOException("\"stableBaseline\" is " + n + ", not a window of a release with its requests,"
                    + " errors and latency");
        }
        Histogram h;
        try {
            h = Histogram.decodeFromCompressedByteBuffer(ByteBuffer.wrap(Base64.getDecoder().decode(latency.asText())),
                    0);
        } catch (DataFormatException | RuntimeException e) {
            // The decoder trusts the lengths inside the data: a cut or edited value can fail in many ways.
            throw new IOException("the latency of \"stableBaseline\" cannot be read: " + e, e);
        }
        if (h.getTotalCount() < 1 || h.getTotalCount() > requests.asLong()) {
            throw new IOException("the latency of \"stableBaseline\" holds " + h.getTotalCount() + " samples for "
                    + requests.asLong() + " requests");
        }
        return new Sample(release.asText(), requests.asLong(), errors.asLong(), h);
    }

    private static int count(JsonNode n, String field) throws IOException {
        JsonNode v = n.path(field);
        if (v.isMissingNode()) {
            return 0;
        }
        if (!v.isInt() || v.asInt() < 0) {
            throw new IOException("\"" + field + "\" is " + v + ", not a whole number of at least 0");
        }
        return v.asInt();
    }

    private static boolean flag(JsonNode n, String field) throws IOException {
        JsonNode v = n.path(field);
        if (v.isMissingNode()) {
            return false;
        }
        if (!v.isBoolean()) {
            throw new IOException("\"" + field + "\" is " + v + ", not true or false");
        }
        return v.asBoolean();
    }

    /** The file, or {@code null} for a store that keeps nothing. */
    public Path path() {
        return path;
    }

    /**
     * Why the analysis state in force is not in the file (it could not be written), or {@code null} when it is. A
     * restart before it is written would resume the run as last saved: a pause, or the end of a run, undone.
     */
    public String unsaved() {
        return unsavedReason;
    }

    /** Writes the state that could not be written when it changed; called every few seconds. */
    public synchronized void saveIfUnsaved() {
        if (unsaved == null) {
            return;
        }
        try {
            AtomicFile.write(path, unsaved);
            unsaved = null;
            unsavedReason = null;
            log.info("analysis state saved to {}: it was in memory only", path);
        } catch (IOException e) {
            log.debug("{} still cannot be written: {}", path, e.toString());
        }
    }

    synchronized void save(Saved saved) {
        if (path == null) {
            return;
        }
        ObjectNode n = JSON.createObjectNode();
        n.put("release", saved.release());
        n.put("step", saved.step());
        if (!saved.steps().isEmpty()) {
            ArrayNode steps = n.putArray("steps");
            saved.steps().forEach(steps::add);
        }
        n.put("paused", saved.paused());
        n.put("failures", saved.failures());
        n.put("outcome", saved.outcome());
        ObjectNode cooldowns = n.putObject("cooldowns");
        saved.cooldowns().forEach((release, until) -> cooldowns.put(release, until.toString()));
        Sample baseline = saved.stableBaseline();
        if (baseline != null) {
            ByteBuffer buffer = ByteBuffer.allocate(baseline.latencyMicros().getNeededByteBufferCapacity());
            int length = baseline.latencyMicros().encodeIntoCompressedByteBuffer(buffer);
            n.putObject("stableBaseline")
                    .put("release", baseline.release())
                    .put("requests", baseline.requests())
                    .put("errors", baseline.errors())
                    .put("latency", Base64.getEncoder().encodeToString(Arrays.copyOf(buffer.array(), length)));
        }
        byte[] bytes;
        try {
            bytes = JSON.writeValueAsBytes(n);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        try {
            AtomicFile.write(path, bytes);
            unsaved = null;
            unsavedReason = null;
        } catch (IOException e) {
            unsaved = bytes;
            unsavedReason = "cannot save the analysis state to " + path + ": " + IoFailures.describe(e)
                    + "; it is in force in memory only until it can be written, and a restart before then would"
                    + " resume the run as last saved";
            log.warn("{}", unsavedReason);
        }
    }

    synchronized void clear() {
        if (path == null) {
            return;
        }
        unsaved = null;
        unsavedReason = null;
        try {
            Files.deleteIfExists(path);
        } catch (IOException e) {
            log.warn("cannot remove {}: {}", path, e.toString());
        }
    }
}
