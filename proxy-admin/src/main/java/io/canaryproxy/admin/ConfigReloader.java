package io.canaryproxy.admin;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.ProxyStoppedException;
import io.canaryproxy.config.ConfigException;
import io.canaryproxy.config.ProxyConfig;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Re-reads the configuration file the proxy was started from and applies it to the running proxy, for
 * {@code POST /reload} and SIGHUP. A file that cannot be read or a change the proxy cannot apply leaves the running
 * configuration as it was. Every attempt is logged in one line, saying who asked and what came of it.
 */
final class ConfigReloader {

    private static final Logger log = LoggerFactory.getLogger(AdminServer.class);
    /** How {@link CanaryProxy#reload} begins a refusal; the log line and the answer say it once already. */
    private static final String PROXY_REFUSAL = "reload refused, the running configuration stays: ";

    /** What came of a reload. */
    enum Outcome {
        /** Applied; {@link Result#changes()} says what changed (possibly nothing). */
        RELOADED,
        /** The file is unreadable or invalid, or the proxy refused the change; the running configuration stays. */
        REFUSED,
        /** There is no file to re-read: the proxy was not started from one (demo mode, embedded). */
        NO_FILE,
        /** The proxy is stopping, or has stopped, and takes no change any more. */
        STOPPING,
        /** Something unexpected; logged with its stack trace. */
        FAILED
    }

    /**
     * @param changes  one line per change applied (empty unless {@link Outcome#RELOADED})
     * @param warnings what the applied configuration holds that is most likely a mistake
     *                 ({@link ProxyConfig#warnings})
     * @param error    why nothing was applied ({@code null} when {@link Outcome#RELOADED})
     */
    record Result(Outcome outcome, List<String> changes, List<String> warnings, String error) {
    }

    private final CanaryProxy proxy;
    private final Path file;
    private final String noFile;

    private ConfigReloader(CanaryProxy proxy, Path file, String noFile) {
        this.proxy = Objects.requireNonNull(proxy, "proxy");
        this.file = file;
        this.noFile = noFile;
    }

    /** Reloads from {@code file}, the file the proxy was started with. */
    static ConfigReloader fromFile(CanaryProxy proxy, Path file) {
        return new ConfigReloader(proxy, file.toAbsolutePath().normalize(), null);
    }

    /** A proxy that has no file to reload from; {@code why} tells the operator (e.g. it runs the demo). */
    static ConfigReloader withoutFile(CanaryProxy proxy, String why) {
        return new ConfigReloader(proxy, null, Objects.requireNonNull(why, "why"));
    }

    /** The file reloads read, or {@code null}. */
    Path file() {
        return file;
    }

    /**
     * Reloads on a thread of its own, so that the caller (an event loop) is not held while the file is read and
     * applied. Never completes exceptionally.
     */
    CompletableFuture<Result> reloadAsync(String who) {
        CompletableFuture<Result> result = new CompletableFuture<>();
        Thread thread = new Thread(() -> result.complete(reload(who)), "canary-reload");
        thread.setDaemon(true);
        thread.start();
        return result;
    }

    /**
     * Reads the file and applies it; one reload at a time.
     *
     * @param who who asked, for the log line: a remote address or {@code SIGHUP}
     */
    synchronized Result reload(String who) {
        if (file == null) {
            log.warn("{}: reload: nothing to reload: {}", who, noFile);
            return new Result(Outcome.NO_FILE, List.of(), List.of(), noFile);
        }
        try {
            ProxyConfig next = Main.loadConfig(file, " (the proxy was started with it; put it back, the running"
                    + " configuration stays meanwhile)");
            List<String> changes = List.copyOf(proxy.reload(next));
            if (changes.isEmpty()) {
                log.info("{}: reload of {}: nothing changed", who, file);
            } else {
                log.info("{}: reload of {}: {} change{}: {}", who, file, changes.size(),
                        changes.size() == 1 ? "" : "s", String.join("; ", changes));
            }
            List<String> warnings = next.warnings();
            warnings.forEach(w -> log.warn("{}: reload of {}: {}", who, file, w));
            return new Result(Outcome.RELOADED, changes, warnings, null);
        } catch (ConfigException e) {
            String message = Main.oneLine(e.getMessage());
            if (message.startsWith(PROXY_REFUSAL)) {
                message = message.substring(PROXY_REFUSAL.length());
            }
            log.warn("{}: reload of {} refused, the running configuration stays: {}", who, file, message);
            return new Result(Outcome.REFUSED, List.of(), List.of(), message);
        } catch (ProxyStoppedException e) {
            // CanaryProxy refuses every change once a stop has begun: an answer, not a failure.
            log.warn("{}: reload of {} refused: {}", who, file, e.getMessage());
            return new Result(Outcome.STOPPING, List.of(), List.of(), e.getMessage());
        } catch (RuntimeException e) {
            log.error("{}: reload of {} failed, the running configuration stays", who, file, e);
            return new Result(Outcome.FAILED, List.of(), List.of(), "internal error: " + e);
        }
    }
}
