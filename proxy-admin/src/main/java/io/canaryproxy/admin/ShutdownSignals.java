package io.canaryproxy.admin;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;
import sun.misc.SignalHandler;

/**
 * Turns SIGTERM and SIGINT into a request for a graceful stop, instead of the JVM's default of exiting at once
 * with status 143 or 130. A second signal while stopping exits immediately.
 */
final class ShutdownSignals implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(Main.class);

    private final CountDownLatch requested = new CountDownLatch(1);
    private final AtomicReference<String> reason = new AtomicReference<>();
    private final Map<Signal, SignalHandler> previous = new LinkedHashMap<>();

    private ShutdownSignals() {
    }

    /** Handles SIGTERM and SIGINT until {@link #close()}; a signal the JVM may not handle is skipped. */
    static ShutdownSignals install() {
        ShutdownSignals signals = new ShutdownSignals();
        for (String name : List.of("TERM", "INT")) {
            try {
                Signal signal = new Signal(name);
                signals.previous.put(signal, Signal.handle(signal, signals::onSignal));
            } catch (IllegalArgumentException e) {
                log.debug("cannot handle SIG{}: {}", name, e.getMessage());
            }
        }
        return signals;
    }

    private void onSignal(Signal signal) {
        if (!request("SIG" + signal.getName())) {
            log.warn("SIG{} while stopping: exiting now", signal.getName());
            Runtime.getRuntime().halt(1);
        }
    }

    /**
     * Asks for a stop as a signal would.
     *
     * @return false when a stop had already been asked for
     */
    boolean request(String why) {
        if (reason.compareAndSet(null, why)) {
            requested.countDown();
            return true;
        }
        return false;
    }

    /** Blocks until a stop is asked for; returns why ({@code SIGTERM}, {@code SIGINT}). */
    String await() {
        boolean interrupted = false;
        while (true) {
            try {
                requested.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
                request("interrupt");
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        return reason.get();
    }

    /** Puts back the handlers that were there before. */
    @Override
    public void close() {
        previous.forEach((signal, handler) -> {
            try {
                Signal.handle(signal, handler);
            } catch (IllegalArgumentException e) {
                log.debug("cannot restore the handler of SIG{}: {}", signal.getName(), e.getMessage());
            }
        });
        previous.clear();
    }
}
