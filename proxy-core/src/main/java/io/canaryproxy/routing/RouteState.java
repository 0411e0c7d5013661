package io.canaryproxy.routing;

import io.canaryproxy.upstream.Release;
import io.canaryproxy.upstream.Upstreams;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one place the route table changes. Readers on the data plane take {@link #current()} with a single volatile
 * load; writers are serialized, persist the new table before it takes effect, and then tell every release whether
 * it is still routed (which starts draining the ones that are not).
 */
public final class RouteState {

    private static final Logger log = LoggerFactory.getLogger(RouteState.class);

    /** The route table with its releases resolved, so that the data plane never looks a name up. */
    public record Routes(RouteTable table, Release stable, Release canary) {
    }

    private volatile Upstreams upstreams;
    private final StateFile stateFile;
    private volatile Routes current;
    /** Why the table in force is not in the state file, or {@code null} when it is. */
    private volatile String unsaved;
    /** Set by a stop: the state file may be another proxy's from then on. */
    private boolean closed;

    public RouteState(Upstreams upstreams, RouteTable initial, StateFile stateFile) {
        this.upstreams = upstreams;
        this.stateFile = stateFile;
        apply(initial);
    }

    public Routes current() {
        return current;
    }

    public RouteTable table() {
        return current.table();
    }

    /**
     * Builds a new table from the current one, persists it and puts it in force.
     *
     * @throws IllegalArgumentException when the new table names an unknown release
     * @throws UncheckedIOException     when the state file cannot be written; the old table stays in force
     */
    public RouteTable update(UnaryOperator<RouteTable> change) {
        return update(change, false);
    }

    /**
     * {@link #update(UnaryOperator)} for a change that must happen even when the state file cannot be written: a
     * rollback. Keeping the canary because the disk is full would leave users on it; the table then holds in memory
     * only, {@link #unsaved()} says so, and {@link #saveIfUnsaved()} writes it once the file can be written.
     */
    public RouteTable updateEvenIfUnsaved(UnaryOperator<RouteTable> change) {
        return update(change, true);
    }

    private synchronized RouteTable update(UnaryOperator<RouteTable> change, boolean evenIfUnsaved) {
        if (closed) {
            throw new IllegalStateException("the proxy has stopped; its route table no longer changes");
        }
        RouteTable before = current.table();
        RouteTable after = change.apply(before);
        resolve(after);
        if (stateFile != null) {
            try {
                stateFile.write(after);
                unsaved = null;
            } catch (IOException e) {
                String why = "cannot write state file " + stateFile.path() + ": " + StateFile.reason(e, stateFile.path());
                if (!evenIfUnsaved) {
                    throw new UncheckedIOException(why, e);
                }
                unsaved = why + "; route table v" + after.version() + " is in force in memory only until it can be"
                        + " written, and a restart before then would go back to v" + before.version();
                log.error("{}", unsaved);
            }
        }
        apply(after);
        log.info("route table v{}: {} (was {})", after.version(), after.describe(), before.describe());
        return after;
    }

    /**
     * Refuses every later change, after the stop's last save: a proxy started next on the same state file must not
     * have its table overwritten by a change made through this stopped one. Lets that proxy take the file.
     */
    public synchronized void close() {
        closed = true;
        if (stateFile != null) {
            stateFile.close();
        }
    }

    /** Why the table in force is not in the state file (see {@link #updateEvenIfUnsaved}), or {@code null}. */
    public String unsaved() {
        return unsaved;
    }

    /**
     * Writes the table in force if a change could not be saved when it was made; a restart would otherwise undo a
     * rollback made while the disk was full. Called every few seconds; does nothing while everything is saved.
     */
    public synchronized void saveIfUnsaved() {
        if (unsaved == null || stateFile == null) {
            return;
        }
        RouteTable table = current.table();
        try {
            stateFile.write(table);
            unsaved = null;
            log.info("route table v{} saved to {}: it was in force in memory only", table.version(), stateFile.path());
        } catch (IOException e) {
            log.debug("state file {} still cannot be written: {}", stateFile.path(), e.toString());
        }
    }

    /**
     * Puts a new generation of upstreams in force (after a reload): the route table stays, its release names now
     * resolve to the new releases, and the retired ones stop getting traffic and drain.
     *
     * @throws IllegalArgumentException when the table names a release the new upstreams lack
     */
    public synchronized void reconfigure(Upstreams next) {
        Upstreams before = upstreams;
        upstreams = next;
        try {
            apply(current.table());
        } catch (IllegalArgumentException e) {
            upstreams = before;
            throw e;
        }
        for (Release r : next.retired()) {
            r.routed(false);
        }
    }

    private synchronized void apply(RouteTable table) {
        Routes resolved = resolve(table);
        current = resolved;
        for (Release r : upstreams.releases()) {
            r.routed(table.routes(r.name()));
        }
    }

    private Routes resolve(RouteTable table) {
        Release stable = known(table.stable());
        Release canary = table.canary() == null ? null : known(table.canary());
        return new Routes(table, stable, canary);
    }

    private Release known(String name) {
        Release r = upstreams.release(name);
        if (r == null) {
            throw new IllegalArgumentException("unknown release '" + name + "' (known: "
                    + String.join(", ", upstreams.releases().stream().map(Release::name).toList()) + ")");
        }
        return r;
    }
}
