package io.canaryproxy.analysis;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.canaryproxy.internal.AtomicFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The analysis on disk, beside the route table's state file, so that a restarted proxy resumes a run at its step
 * with its streak of failed checks, and keeps the cool-downs of releases rolled back and the last outcome. Replaced
 * whole, as the state file is ({@link AtomicFile}). A store without a path keeps nothing.
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
     */
    public record Saved(String release, int step, boolean paused, int failures, String outcome,
                        Map<String, Instant> cooldowns) {
    }

    private final Path path;

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
        return new AnalysisStore(stateFile.resolveSibling(base + ".analysis.json"));
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
                flag(n, "paused"), count(n, "failures"), n.path("outcome").asText(""), cooldowns));
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

    void save(Saved saved) {
        if (path == null) {
            return;
        }
        ObjectNode n = JSON.createObjectNode();
        n.put("release", saved.release());
        n.put("step", saved.step());
        n.put("paused", saved.paused());
        n.put("failures", saved.failures());
        n.put("outcome", saved.outcome());
        ObjectNode cooldowns = n.putObject("cooldowns");
        saved.cooldowns().forEach((release, until) -> cooldowns.put(release, until.toString()));
        try {
            AtomicFile.write(path, JSON.writeValueAsBytes(n));
        } catch (IOException e) {
            log.warn("cannot save the analysis state to {}: {}", path, e.toString());
        }
    }

    void clear() {
        if (path == null) {
            return;
        }
        try {
            Files.deleteIfExists(path);
        } catch (IOException e) {
            log.warn("cannot remove {}: {}", path, e.toString());
        }
    }
}
