package io.canaryproxy.analysis;

import io.canaryproxy.analysis.Check.Verdict;
import io.canaryproxy.config.AnalysisConfig;
import io.canaryproxy.internal.DurationText;
import io.canaryproxy.metrics.AnalysisMetrics;
import io.canaryproxy.routing.RouteTable;
import io.canaryproxy.upstream.Release;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An automated canary run: steps the canary's weight through {@code analysis.steps}, judges it against the stable
 * release at the end of every interval, and promotes it after the last step or rolls it back (or pauses) after
 * {@code failure-limit} failed checks in a row. A step whose check holds (too little data) is extended.
 *
 * <p>All state changes happen on the one control thread, or under this object's lock from admin calls.
 */
public final class Analysis {

    private static final Logger log = LoggerFactory.getLogger(Analysis.class);
    /** How soon a canary that lost every endpoint is rolled back, whatever the interval. */
    private static final long HEALTH_WATCH_MILLIS = 500;

    /** idle: no run; running; paused: holding the weight for an operator. */
    public enum State { IDLE, RUNNING, PAUSED }

    /** What the analysis asks of the proxy: the route-table operations and release lookups it needs. */
    public interface Control {
        RouteTable routes();

        RouteTable setCanary(String release, double weightPercent);

        RouteTable promote();

        RouteTable rollback();

        Release release(String name);
    }

    /** A point-in-time view, for /status. */
    public record Status(State state, String release, int step, double weight, String lastOutcome,
                         List<Check> history) {
    }

    private AnalysisConfig config;
    private Judge judge;
    private final Control control;
    private final ScheduledExecutorService executor;
    private Webhooks webhooks;
    private final AnalysisStore store;
    private final AnalysisMetrics metrics;
    private final ArrayDeque<Check> history = new ArrayDeque<>();
    private final Map<String, Instant> cooldownUntil = new HashMap<>();

    private State state = State.IDLE;
    /** The release whose start is asking the pre-rollout webhook, or {@code null}. */
    private String starting;
    /** Set by {@link #close()}: the proxy is stopping. */
    private boolean closed;
    private String release;
    /**
     * The run's steps: {@code analysis.steps} as they were when it started (a reload changes the next run's), with
     * the weight of a canary resumed off those steps among them (see {@link #resume(AnalysisStore.Saved)}).
     */
    private List<Double> steps = List.of();
    private int step;
    private int consecutiveFailures;
    private long expectedVersion;
    private Instant stepStartedAt;
    /** What the checks that held this step saw: the next check judges it together with its own window. */
    private Sample heldCanary;
    private Sample heldStable;
    /**
     * The stable release's last judged window with at least {@code min-requests} requests: what the canary's
     * latency is compared with at the last steps, where stable gets too little traffic for a window of its own.
     */
    private Sample stableBaseline;
    private String lastOutcome = "";
    private ScheduledFuture<?> tick;
    private ScheduledFuture<?> healthWatch;
    private ScheduledFuture<?> warmupEnd;

    public Analysis(AnalysisConfig config, Control control, ScheduledExecutorService executor, Webhooks webhooks,
                    AnalysisStore store, AnalysisMetrics metrics) {
        this.config = config;
        this.judge = new Judge(config);
        this.control = control;
        this.executor = executor;
        this.webhooks = webhooks;
        this.store = store;
        this.metrics = metrics;
    }

    /**
     * Starts a run of {@code name} at the first step.
     *
     * @throws IllegalStateException    when a run is going on, the release is cooling down after a rollback (and
     *                                  not {@code force}), or the pre-rollout webhook said no
     * @throws IllegalArgumentException for the stable release or an unknown one
     */
    public Status start(String name, boolean force) {
        synchronized (this) {
            requireOpen();
            checkStartable(name, force);
            if (starting != null) {
                // One start at a time asks the pre-rollout webhook: a hook that runs a migration or tells a chat
                // must not hear of starts that cannot happen.
                throw new IllegalStateException("an analysis of " + starting + " is starting (its pre-rollout"
                        + " webhook is being asked); wait for it");
            }
            starting = name;
        }
        try {
            // The pre-rollout gate may take up to its timeout: asked without holding the lock, so that /status
            // and the metrics stay answerable meanwhile.
            String refusal = webhooks.preRollout(name);
            if (refusal != null) {
                throw new IllegalStateException("pre-rollout webhook refused: " + refusal);
            }
            synchronized (this) {
                requireOpen();
                checkStartable(name, force);
                return begin(name);
            }
        } finally {
            synchronized (this) {
                starting = null;
            }
        }
    }

    private void checkStartable(String name, boolean force) {
        if (state != State.IDLE) {
            throw new IllegalStateException("an analysis of " + release + " is " + state.name().toLowerCase()
                    + "; end it first (promote, rollback)");
        }
        if (control.release(name) == null) {
            throw new IllegalArgumentException("unknown release '" + name + "'");
        }
        Instant until = cooldownUntil.get(name);
        if (!force && until != null && Instant.now().isBefore(until)) {
            throw new IllegalStateException("release '" + name + "' was rolled back; it cools down until " + until
                    + " (to try again now, force it: force=true in the admin API, --force with ctl)");
        }
    }

    private Status begin(String name) {
        // A canary already at a weight (set by hand) keeps its users: the run starts at the first step that does
        // not lower it, since users moved back to stable and then forth again would flap between releases.
        RouteTable current = control.routes();
        steps = config.steps();
        int first = name.equals(current.canary()) ? firstStepAtLeast(current.weightBasisPoints()) : 0;
        // The run is saved before its canary gets users: a stop in between leaves a run the next start does not
        // resume (the route table has no such canary), never a canary that no run judges.
        Map<String, Instant> cooldowns = new HashMap<>(cooldownUntil);
        cooldowns.remove(name);
        store.save(new AnalysisStore.Saved(name, first, false, 0, "", Map.copyOf(cooldowns), null, steps));
        RouteTable table;
        try {
            table = control.setCanary(name, steps.get(first));
        } catch (RuntimeException e) {
            save();
            throw e;
        }
        release = name;
        step = first;
        // Forced within a cooldown: this run's outcome decides anew.
        cooldownUntil.remove(name);
        stableBaseline = null;
        consecutiveFailures = 0;
        history.clear();
        lastOutcome = "";
        state = State.RUNNING;
        beginStep(table);
        if (first == 0) {
            log.info("analysis of {} started at {}%, steps {}, interval {}", name, steps.get(0),
                    steps, DurationText.of(config.interval()));
        } else {
            log.info("analysis of {} started at step {} ({}%), the first that keeps the canary's {}%, steps {},"
                    + " interval {}", name, first, steps.get(first), current.weightPercent(),
                    steps, DurationText.of(config.interval()));
        }
        scheduleTick();
        return status();
    }

    /**
     * Picks up what a restarted proxy left behind: the cool-downs still running and the last outcome, and a run at
     * its step with its streak of failed checks, if the route table still matches it. A proxy that restarts more
     * often than it checks must neither forget a rollback nor lose count of the failures that lead to one.
     */
    public synchronized void resume(AnalysisStore.Saved saved) {
        Instant now = Instant.now();
        saved.cooldowns().forEach((name, until) -> {
            if (until.isAfter(now)) {
                cooldownUntil.put(name, until);
            }
        });
        lastOutcome = saved.outcome();
        if (saved.release() == null) {
            return;
        }
        RouteTable t = control.routes();
        if (!saved.release().equals(t.canary())) {
            // Also what a proxy killed as it ended the run leaves: the route table was changed, the end not saved.
            log.info("analysis of {} not resumed: the route table no longer has it as canary{}", saved.release(),
                    saved.release().equals(t.stable()) ? " (it is the stable release)" : "");
            save();
            return;
        }
        release = saved.release();
        if (cooldownUntil.remove(release) != null) {
            log.warn("analysis of {}: the proxy stopped as it rolled {} back, before the route table changed; the"
                    + " run goes on and judges it again", release, release);
            lastOutcome = "";
        }
        consecutiveFailures = saved.failures();
        Sample baseline = saved.stableBaseline();
        stableBaseline = baseline != null && baseline.release().equals(t.stable()) ? baseline : null;
        if (baseline != null && stableBaseline == null) {
            log.info("analysis of {}: the saved stable window is {}'s, and {} is stable now: the last steps judge"
                    + " latency once it has a window of its own", saved.release(), baseline.release(), t.stable());
        }
        state = saved.paused() ? State.PAUSED : State.RUNNING;
        // The run goes on with its own steps, as it does after a reload: new steps are the next run's. The route
        // table's weight is what users have, though, and the saved step only an index: a file from before the
        // steps were kept is read against analysis.steps as they are now, and a file or table changed by hand may
        // not agree. Resuming at an index whose weight is not the canary's would move users off a canary a pause
        // was holding (a migration that cannot be undone, say) without anyone asking, or pass a higher step judged
        // on the users of a lower one.
        steps = saved.steps().isEmpty() ? config.steps() : saved.steps();
        int saveStep = saved.step();
        int weight = t.weightBasisPoints();
        if (saveStep >= 0 && saveStep < steps.size() && basisPoints(steps.get(saveStep)) == weight) {
            step = saveStep;
        } else {
            List<Double> were = steps;
            step = firstStepAtLeast(weight);
            if (basisPoints(steps.get(step)) != weight) {
                // Off the steps: the canary's weight is judged as a step of its own, then the run goes on up.
                List<Double> withWeight = new ArrayList<>(steps);
                step = basisPoints(steps.get(step)) > weight ? step : step + 1;
                withWeight.add(step, t.weightPercent());
                steps = List.copyOf(withWeight);
            }
            log.warn("analysis of {}: it was saved at step {}, which steps {} do not put at the canary's {}%; the"
                    + " canary keeps its weight, and the run goes on with steps {} from step {}", release, saveStep,
                    were, t.weightPercent(), steps, step);
        }
        beginStep(t);
        log.info("analysis of {} resumed at step {} ({}%){}", release, step, steps.get(step),
                state == State.PAUSED ? ", paused" : "");
        scheduleTick();
    }

    /** The first step at least {@code weight} (basis points): going on from there never lowers the canary's. */
    private int firstStepAtLeast(int weight) {
        for (int i = 0; i < steps.size(); i++) {
            if (basisPoints(steps.get(i)) >= weight) {
                return i;
            }
        }
        return steps.size() - 1;
    }

    private static long basisPoints(double percent) {
        return Math.round(percent * 100);
    }

    public synchronized Status pause() {
        requireOpen();
        requireRun();
        if (state != State.PAUSED) {
            state = State.PAUSED;
            save();
            log.info("analysis of {} paused at step {} by an operator", release, step);
            webhooks.send("paused", release, step, steps.get(step), history.peekLast(),
                    "paused by an operator");
        }
        return status();
    }

    public synchronized Status resume() {
        requireOpen();
        requireRun();
        if (state == State.PAUSED) {
            state = State.RUNNING;
            consecutiveFailures = 0;
            beginStep(control.routes());
            // The next check a whole interval from now: the timer kept its beat through the pause, and a check a
            // moment after the resume would judge a step on a moment of traffic.
            scheduleTick();
            log.info("analysis of {} resumed at step {}", release, step);
        }
        return status();
    }

    /**
     * Makes an operator's change of the route table, then ends the run with {@code why}, telling the webhooks
     * {@code event}. A change refused or not saved leaves the run going: only a change that took effect ends it.
     * Under this object's lock, so that no check steps the weight in between.
     */
    public synchronized <T> T operatorChange(Supplier<T> change, String why, String event) {
        T result = change.get();
        abort(why, event);
        return result;
    }

    /** Ends the run without touching the route table: the operator changed it; webhooks get an {@code ended}. */
    public synchronized void abort(String why) {
        abort(why, "ended");
    }

    /**
     * Ends the run without touching the route table, telling the webhooks {@code event} ({@code promoted},
     * {@code rolled-back} or {@code ended}) with {@code why} as its reason: a record kept from the webhooks must
     * see the run end whoever ended it.
     */
    public synchronized void abort(String why, String event) {
        if (state != State.IDLE) {
            log.info("analysis of {} ended: {}", release, why);
            lastOutcome = "ended: " + why;
            // A promotion leaves the canary at 100 %, whoever made it; a rollback tells the weight it was taken from.
            webhooks.send(event, release, step, "promoted".equals(event) ? 100 : steps.get(step), history.peekLast(),
                    why);
            metrics.outcome(event);
            finish();
        }
    }

    public synchronized Status status() {
        double weight = state == State.IDLE ? 0 : steps.get(step);
        return new Status(state, release, step, weight, lastOutcome, List.copyOf(history));
    }

    /**
     * New settings (after a reload). A running analysis keeps its steps: the settings apply to its next check, and
     * the steps to the next run.
     */
    public synchronized void reconfigure(AnalysisConfig next, Webhooks nextWebhooks) {
        webhooks = nextWebhooks;
        boolean intervalChanged = !config.interval().equals(next.interval());
        config = next;
        judge = new Judge(next);
        if (state != State.IDLE && intervalChanged) {
            scheduleTick();
        }
    }

    /**
     * Stops the timer, lets no tick that was already waiting run, and refuses every later start, pause and resume;
     * the saved state stays, so a restarted proxy resumes. A call that got past the proxy's own check before its
     * stop began must not write the file the proxy started next reads.
     */
    public synchronized void close() {
        closed = true;
        cancelTimers();
        cancelWarmupEnd();
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("the proxy is stopping");
        }
    }

    private void requireRun() {
        if (state == State.IDLE) {
            throw new IllegalStateException("no analysis is running");
        }
    }

    private void beginStep(RouteTable table) {
        expectedVersion = table.version();
        stepStartedAt = Instant.now();
        Release canary = control.release(release);
        Release stable = control.release(table.stable());
        resetWindows(canary, stable);
        save();
        scheduleWarmupEnd();
    }

    /**
     * A step's judged time starts when its warm-up ends, and its first check comes a whole interval later. The
     * checks alone cannot do it: their beat is the interval's, so a warm-up shorter than the interval would end
     * between two of them and be judged with the rest.
     */
    private void scheduleWarmupEnd() {
        cancelWarmupEnd();
        long millis = config.warmup().toMillis();
        if (millis > 0) {
            long version = expectedVersion;
            int warmingStep = step;
            warmupEnd = executor.schedule(() -> endWarmup(version, warmingStep), millis, TimeUnit.MILLISECONDS);
        }
    }

    private synchronized void endWarmup(long version, int warmingStep) {
        if (closed || state != State.RUNNING || step != warmingStep || version != expectedVersion) {
            return; // paused, moved on or ended meanwhile
        }
        warmupEnd = null;
        RouteTable table = control.routes();
        if (table.version() != expectedVersion) {
            return; // changed by an operator: the next check ends the run and says so
        }
        resetWindows(control.release(release), control.release(table.stable()));
        scheduleTick();
    }

    private void cancelWarmupEnd() {
        if (warmupEnd != null) {
            warmupEnd.cancel(false);
            warmupEnd = null;
        }
    }

    /** A new window for both releases: what they did before does not count for the step from now on. */
    private void resetWindows(Release canary, Release stable) {
        canary.window().reset();
        stable.window().reset();
        heldCanary = null;
        heldStable = null;
    }

    private void scheduleTick() {
        cancelTimers();
        long millis = config.interval().toMillis();
        tick = executor.scheduleWithFixedDelay(this::onInterval, millis, millis, TimeUnit.MILLISECONDS);
        long watch = Math.min(millis, HEALTH_WATCH_MILLIS);
        healthWatch = executor.scheduleWithFixedDelay(this::watchHealth, watch, watch, TimeUnit.MILLISECONDS);
    }

    private void cancelTimers() {
        if (tick != null) {
            tick.cancel(false);
            tick = null;
        }
        if (healthWatch != null) {
            healthWatch.cancel(false);
            healthWatch = null;
        }
    }

    /**
     * A canary that has lost every endpoint fails its run at once, not at the end of the interval. A paused run is
     * left to its operator: the canary's users go to the stable release meanwhile (the router sends them there
     * while the canary has no healthy endpoint), and a pause is there to keep the weight where it is.
     */
    private synchronized void watchHealth() {
        if (closed || state != State.RUNNING) {
            return;
        }
        RouteTable table = control.routes();
        if (table.version() != expectedVersion || !release.equals(table.canary())) {
            return; // the interval's check ends the run, saying why
        }
        try {
            failedIfUnhealthy(control.release(release), control.release(table.stable()));
        } catch (RuntimeException e) {
            pauseAfter(e);
        }
    }

    /** Rolls back a running canary without a healthy endpoint, or pauses it with {@code on-failure = pause}. */
    private boolean failedIfUnhealthy(Release canary, Release stable) {
        if (canary.hasHealthyEndpoint()) {
            return false;
        }
        // What the step saw until its canary fell, not zeros: the history and the webhook are where an operator
        // looks for what the canary did before it went.
        Sample c = Sample.sum(heldCanary, canary.window().take(canary.name()));
        Sample s = Sample.sum(heldStable, stable.window().take(stable.name()));
        heldCanary = null;
        heldStable = null;
        // Why, too: a health check that timed out on a busy canary and one that was refused by a dead one call for
        // different fixes, and the history and the webhook are read long after the logs have scrolled by.
        String problems = canary.problems();
        String why = "canary has no healthy endpoint" + (problems.isEmpty() ? "" : " (" + problems + ")");
        Check check = new Check(Instant.now(), step, steps.get(step), Verdict.FAIL, why,
                Judge.figures(c), Judge.figures(s), Double.NaN, Double.NaN, Double.NaN);
        record(check);
        if (config.pauseOnFailure()) {
            pauseFailed("paused: the " + why, check);
        } else {
            rollBack("the " + why);
        }
        return true;
    }

    private synchronized void onInterval() {
        if (closed) {
            return; // a tick that was waiting for the lock while the proxy's stop closed this
        }
        try {
            check();
        } catch (RuntimeException e) {
            pauseAfter(e);
        }
    }

    /**
     * A step the run could not take (the state file cannot be written for a new weight, say): the run holds its
     * weight for an operator, and says so where operators look, the outcome and the {@code paused} webhook.
     */
    private void pauseAfter(RuntimeException e) {
        state = State.PAUSED;
        lastOutcome = "paused: " + e.getMessage();
        if (e instanceof java.io.UncheckedIOException) {
            // The state file: a full disk or a lost directory is the operator's to fix, and the reason says it all.
            log.error("analysis of {} {}", release, lastOutcome);
        } else {
            log.error("analysis of {} failed unexpectedly; pausing it", release, e);
        }
        metrics.outcome("paused");
        webhooks.send("paused", release, step, steps.get(step), history.peekLast(), lastOutcome);
        save();
    }

    private void check() {
        if (state == State.IDLE) {
            return;
        }
        RouteTable table = control.routes();
        if (table.version() != expectedVersion || !release.equals(table.canary())) {
            abort("the route table was changed by an operator (now v" + table.version() + ")");
            return;
        }
        Release canary = control.release(release);
        Release stable = control.release(table.stable());
        if (state == State.PAUSED) {
            resetWindows(canary, stable);
            return;
        }
        if (failedIfUnhealthy(canary, stable)) {
            return;
        }
        if (Duration.between(stepStartedAt, Instant.now()).compareTo(config.warmup()) < 0) {
            resetWindows(canary, stable);
            return;
        }
        // Both windows at the same moment: the comparison is over the same time.
        Sample c = Sample.sum(heldCanary, canary.window().take(canary.name()));
        Sample s = Sample.sum(heldStable, stable.window().take(stable.name()));
        heldCanary = null;
        heldStable = null;
        Check result = judge.judge(c, s, stableBaseline, step, steps.get(step));
        record(result);
        if (s.requests() >= config.minRequests()) {
            stableBaseline = s;
        }
        switch (result.verdict()) {
            case HOLD -> {
                // The step is extended, and what was seen so far counts at the next check: a canary too small
                // for min-requests in one interval is judged over several. The failure streak is neither broken
                // nor extended by missing data.
                heldCanary = c;
                heldStable = s;
            }
            case PASS -> {
                consecutiveFailures = 0;
                advance();
            }
            case FAIL -> {
                consecutiveFailures++;
                if (consecutiveFailures < config.failureLimit()) {
                    save();
                } else {
                    if (config.pauseOnFailure()) {
                        pauseFailed("paused after " + consecutiveFailures + " failed checks: " + result.reason(),
                                result);
                    } else {
                        rollBack(consecutiveFailures + " failed checks in a row: " + result.reason());
                    }
                }
            }
        }
    }

    private void advance() {
        if (step + 1 >= steps.size()) {
            control.promote();
            lastOutcome = "promoted after " + steps.size() + " steps";
            log.info("analysis of {}: {}", release, lastOutcome);
            webhooks.send("promoted", release, step, 100, history.peekLast(), lastOutcome);
            metrics.outcome("promoted");
            finish();
            return;
        }
        double weight = steps.get(step + 1);
        // The weight first: if it cannot be set (the state file cannot be written), the run pauses at the step
        // whose weight is in force, and resumes from there.
        RouteTable table = control.setCanary(release, weight);
        step++;
        log.info("analysis of {}: step {} at {}%", release, step, weight);
        webhooks.send("step", release, step, weight, history.peekLast());
        beginStep(table);
    }

    /** {@code on-failure = pause}: the run holds its weight for an operator, who reads why in the outcome. */
    private void pauseFailed(String outcome, Check check) {
        state = State.PAUSED;
        lastOutcome = outcome;
        log.warn("analysis of {} {}", release, lastOutcome);
        metrics.outcome("paused");
        webhooks.send("paused", release, step, steps.get(step), check, lastOutcome);
        save();
    }

    private void rollBack(String why) {
        // The cool-down is saved before the route table changes: a stop in between must not let the release that
        // failed be started again at once. A run whose canary is still in the table at the next start goes on.
        String before = lastOutcome;
        cooldownUntil.put(release, Instant.now().plus(config.cooldown()));
        lastOutcome = "rolled back: " + why;
        save();
        try {
            control.rollback();
        } catch (RuntimeException e) {
            // Not rolled back after all: the saved cool-down would read, at the next start, as a kill mid-rollback.
            cooldownUntil.remove(release);
            lastOutcome = before;
            save();
            throw e;
        }
        log.warn("analysis of {} {}", release, lastOutcome);
        webhooks.send("rolled-back", release, step, steps.get(step), history.peekLast(), lastOutcome);
        metrics.outcome("rolled-back");
        finish();
    }

    private void finish() {
        state = State.IDLE;
        heldCanary = null;
        heldStable = null;
        stableBaseline = null;
        cancelTimers();
        cancelWarmupEnd();
        if (cooldownUntil.isEmpty() && lastOutcome.isEmpty()) {
            store.clear();
        } else {
            save();
        }
    }

    private void record(Check check) {
        metrics.checked(check.verdict().name().toLowerCase(java.util.Locale.ROOT));
        history.addLast(check);
        while (history.size() > config.history()) {
            history.removeFirst();
        }
        log.info("analysis of {}: {}", release, check.logLine());
    }

    private void save() {
        Instant now = Instant.now();
        cooldownUntil.values().removeIf(until -> !until.isAfter(now));
        boolean idle = state == State.IDLE;
        store.save(new AnalysisStore.Saved(idle ? null : release, step, state == State.PAUSED,
                consecutiveFailures, lastOutcome, Map.copyOf(cooldownUntil), idle ? null : stableBaseline,
                idle ? List.of() : steps));
    }
}
