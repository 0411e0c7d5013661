package io.canaryproxy.admin;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;
import sun.misc.SignalHandler;

/**
 * Turns SIGHUP into a reload of the configuration file, as {@code POST /reload} does, instead of the JVM's default of
 * exiting. The reload runs on the thread the JVM starts for the signal; reloads never overlap.
 */
final class ReloadSignal implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(Main.class);

    private final Signal signal;
    private final SignalHandler previous;

    private ReloadSignal(Signal signal, SignalHandler previous) {
        this.signal = signal;
        this.previous = previous;
    }

    /** Handles SIGHUP until {@link #close()}; returns {@code null} when the JVM does not let it be handled. */
    static ReloadSignal install(ConfigReloader reloader) {
        try {
            Signal hup = new Signal("HUP");
            SignalHandler previous = Signal.handle(hup, s -> reloader.reload("SIGHUP"));
            if (previous == SignalHandler.SIG_IGN) {
                // The JVM leaves a signal alone that the process started with ignored, as nohup does, and says so
                // only by handing back SIG_IGN: the new handler never runs.
                log.warn("SIGHUP is ignored by this process (started under nohup or with the signal ignored), so it"
                        + " cannot reload the configuration: reload with POST /reload or canary-proxy ctl reload");
            }
            return new ReloadSignal(hup, previous);
        } catch (IllegalArgumentException e) {
            log.warn("cannot handle SIGHUP ({}): reload with POST /reload instead", e.getMessage());
            return null;
        }
    }

    /** Puts back the handler that was there before. */
    @Override
    public void close() {
        try {
            Signal.handle(signal, previous);
        } catch (IllegalArgumentException e) {
            log.debug("cannot restore the handler of SIGHUP: {}", e.getMessage());
        }
    }
}
