package io.canaryproxy;

import io.canaryproxy.analysis.Analysis;
import io.canaryproxy.analysis.AnalysisStore;
import io.canaryproxy.analysis.Webhooks;
import io.canaryproxy.config.AnalysisConfig;
import io.canaryproxy.config.ConfigException;
import io.canaryproxy.config.EndpointAddress;
import io.canaryproxy.config.ProxyConfig;
import io.canaryproxy.config.ReleaseConfig;
import io.canaryproxy.config.RoutingConfig;
import io.canaryproxy.internal.Descriptors;
import io.canaryproxy.internal.DurationText;
import io.canaryproxy.listener.InFlightRequest;
import io.canaryproxy.listener.Listener;
import io.canaryproxy.listener.Transport;
import io.canaryproxy.metrics.AnalysisMetrics;
import io.canaryproxy.metrics.ClientMetrics;
import io.canaryproxy.metrics.ProxyMeters;
import io.canaryproxy.routing.RouteState;
import io.canaryproxy.routing.RouteTable;
import io.canaryproxy.routing.Router;
import io.canaryproxy.routing.StateFile;
import io.canaryproxy.upstream.Endpoint;
import io.canaryproxy.upstream.Release;
import io.canaryproxy.upstream.Upstreams;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.EventExecutor;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.LongSupplier;
import java.util.function.ToLongFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The embeddable proxy: one listener in front of the configured releases.
 *
 * <pre>{@code
 * CanaryProxy proxy = CanaryProxy.start(ConfigLoader.load(Path.of("conf/canary-proxy.conf")));
 * proxy.switchTo("green", false);
 * proxy.awaitDrained("blue", Duration.ofSeconds(30)).join();
 * proxy.close();
 * }</pre>
 *
 * <p>All methods are thread-safe. The proxy's threads are daemon threads: it keeps no JVM alive by itself, so an
 * application whose main thread returns must wait for its own end (a shutdown hook that calls {@link #stop()}, say).
 * Once {@link #stop()} has begun, every method that would change the route table, the configuration or the
 * analysis throws {@link ProxyStoppedException} (an {@link IllegalStateException}). Each proxy needs a
 * {@link MeterRegistry} of its own while it runs; its meters are removed from it when it stops.
 */
public final class CanaryProxy implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(CanaryProxy.class);
    private static final String METER_PREFIX = "canary.proxy.";
    private static final long DRAIN_POLL_MILLIS = 20;
    private static final long DRAIN_SWEEP_MILLIS = 500;
    /** How often a route table or an analysis state that could not be saved is written again. */
    private static final long UNSAVED_RETRY_SECONDS = 5;
    /** How much longer than a health check's timeout a switch waits for the release's answer. */
    private static final long PROBE_GRACE_MILLIS = 1000;

    private volatile ProxyConfig config;
    private final MeterRegistry registry;
    private final Transport transport;
    private final EventLoop[] loops;
    private final List<Release> draining = new CopyOnWriteArrayList<>();
    /**
     * Releases a reload took out of the configuration: a deploy script may still ask whether one is drained, and
     * "unknown release" would not tell it that it may stop the processes behind it.
     */
    private final Set<String> removedReleases = ConcurrentHashMap.newKeySet();
    private List<Meter> gauges = List.of();
    private final EventLoopGroup group;
    private volatile Upstreams upstreams;
    private final RouteState routes;
    private final Listener listener;
    private final InetSocketAddress address;
    private final ScheduledExecutorService control;
    private final Analysis analysis;
    private final AnalysisStore analysisStore;
    private AnalysisConfig analysisConfig;
    /** Set as a stop begins; from then on nothing changes the route table, the configuration or the analysis. */
    private volatile boolean stopping;
    /**
     * Set, under {@link #drainWaits}' lock, as the stop is about to cut what is still open: from then on the stop
     * completes the drain waits, with what it found before the cut.
     */
    private boolean cutting;
    /** Completes when the stop has ended: a second caller of {@link #stop()} waits for it. */
    private final CompletableFuture<Void> stopped = new CompletableFuture<>();
    /** {@link #awaitDrained} calls under way, with their release: a stop completes them with what it leaves. */
    private final Map<CompletableFuture<ProxyStatus.Release>, String> drainWaits = new ConcurrentHashMap<>();
    /** The control executor's thread: a stop may run on it, in a callback of a drain wait. */
    private volatile Thread controlThread;
    private boolean sweeping;

    private CanaryProxy(ProxyConfig config, MeterRegistry registry) {
        for (Meter m : registry.getMeters()) {
            if (m.getId().getName().startsWith(METER_PREFIX)) {
                // Its gauges would be ignored as duplicates, and this proxy's stop would remove the other's meters.
                throw new IllegalArgumentException("the meter registry already holds " + m.getId().getName()
                        + ", another proxy's: give each running proxy a registry of its own");
            }
        }
        this.config = config;
        this.registry = registry;
        this.transport = Transport.select(config.transport());
        this.group = transport.newGroup(config.threads(), "canary-proxy");
        List<EventLoop> loopList = new ArrayList<>();
        for (EventExecutor e : group) {
            loopList.add((EventLoop) e);
        }
        EventLoop[] loopArray = loopList.toArray(new EventLoop[0]);
        this.loops = loopArray;
        this.control = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "canary-proxy-control");
            t.setDaemon(true);
            controlThread = t;
            return t;
        });
        AnalysisStore store;
        Optional<AnalysisStore.Saved> saved;
        StateFile stateFile = null;
        try {
            this.analysisConfig = config.analysis();
            this.upstreams = new Upstreams(config, transport, loopArray, registry);
            if (config.stateFile() != null) {
                try {
                    stateFile = StateFile.open(config.stateFile());
                    stateFile.checkWritable();
                } catch (IOException e) {
                    throw ConfigException.invalid("proxy.state-file", config.stateFile().toString(),
                            "cannot be written (" + StateFile.reason(e) + "); every switch would fail. Give a"
                                    + " writable path, or \"\" to keep the route table in memory only");
                }
            }
            this.routes = new RouteState(upstreams, initialRoutes(config, stateFile), stateFile);
            store = AnalysisStore.besideStateFile(stateFile == null ? null : stateFile.path());
            saved = savedAnalysis(store, config);
            this.listener = new Listener(config, transport, group, loopArray, routes,
                    new Router(routes, upstreams, config.routing()), new ClientMetrics(registry));
            this.address = listener.bind();
        } catch (RuntimeException e) {
            if (stateFile != null) {
                stateFile.close();
            }
            group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
            control.shutdownNow();
            removeMeters(registry);
            throw e;
        }
        gauges = ProxyMeters.bind(registry, upstreams, List.of(), routes, totals);
        this.analysisStore = store;
        this.analysis = new Analysis(analysisConfig, new AnalysisControl(), control,
                new Webhooks(analysisConfig.webhooks(), ForkJoinPool.commonPool()), store,
                new AnalysisMetrics(registry));
        Gauge.builder("canary.proxy.analysis.state", analysis, a -> a.status().state().ordinal())
                .description("Automated analysis: 0 idle, 1 running, 2 paused").register(registry);
        Gauge.builder("canary.proxy.analysis.step", analysis, a -> a.status().step())
                .description("Step of the running analysis, from 0; of the last one while idle").register(registry);
        saved.ifPresent(analysis::resume);
        RouteTable table = routes.table();
        if (table.canary() != null && analysis.status().state() == Analysis.State.IDLE) {
            // A canary set by hand, or one whose run a killed proxy did not get to save: either way no one judges it.
            log.info("release {} is canary at {}% and no analysis run judges it: the weight stays until it is changed,"
                    + " or a run is started (POST /canary/start?release={})", table.canary(), table.weightPercent(),
                    table.canary());
        }
        upstreams.startHealthChecks();
        control.scheduleWithFixedDelay(this::saveIfUnsaved, UNSAVED_RETRY_SECONDS, UNSAVED_RETRY_SECONDS,
                TimeUnit.SECONDS);
        log.info("listening on {} ({} event loops, {} transport); stable release {}", address, loopArray.length,
                transport.name().toLowerCase(), routes.table().stable());
        config.warnings().forEach(w -> log.warn("{}", w));
        Descriptors.warnIfLow();
    }

    /**
     * Binds the listener, starts health checks and returns once the proxy accepts connections.
     *
     * @throws java.io.UncheckedIOException when the listen address cannot be bound
     */
    public static CanaryProxy start(ProxyConfig config) {
        return start(config, new CompositeMeterRegistry());
    }

    /**
     * Same as {@link #start(ProxyConfig)}, recording metrics ({@code canary.proxy.*}) in {@code registry}, for
     * instance a Prometheus registry that the admin API scrapes.
     */
    public static CanaryProxy start(ProxyConfig config, MeterRegistry registry) {
        return new CanaryProxy(config, registry);
    }

    /** Where this proxy records its metrics. */
    public MeterRegistry meterRegistry() {
        return registry;
    }

    /** The configuration this proxy runs with. */
    public ProxyConfig config() {
        return config;
    }

    /** The I/O transport the event loops run on, as {@code proxy.transport} chose it. */
    public Transport transport() {
        return transport;
    }

    /** The address the listener is bound to (the real port when the config asked for port 0). */
    public InetSocketAddress listenAddress() {
        return address;
    }

    /** The route table in force. */
    public RouteTable routes() {
        return routes.table();
    }

    /**
     * Makes {@code release} stable at 100 % at once and starts draining every release that no longer gets traffic:
     * its idle connections close now, busy ones after their response, upgraded ones after {@code drain.timeout}.
     *
     * @return the new route table
     * @throws IllegalArgumentException when no release has that name
     * @throws IllegalStateException    when {@code force} is false and none of the release's endpoints answers its
     *                                  health check now (asked at once, forced too, which may take up to
     *                                  {@code health-check.timeout}: unless forced, not to be called on one of
     *                                  the proxy's event loops)
     */
    public RouteTable switchTo(String release, boolean force) {
        requireRunning();
        Release target = requireRelease(release);
        requireServing(target, "switch", force);
        RouteTable table = analysis.operatorChange(() -> routes.update(t -> t.switchTo(release)),
                "switched to " + release + " by an operator", "ended");
        scheduleUpgradedClose();
        return table;
    }

    /**
     * Sends {@code weightPercent} % of users to {@code release} as canary, rounded to the 0.01 % resolution; the
     * stable release keeps the rest. Weight 0 keeps the canary named but sends it nobody.
     *
     * @throws IllegalArgumentException for an unknown release, the stable release itself, or a weight outside
     *                                  0..100, or above 0 and below 0.005 (which would round to 0)
     * @throws IllegalStateException    when the weight is above 0, the release has no healthy endpoint and
     *                                  {@code force} is false
     */
    public RouteTable setCanary(String release, double weightPercent, boolean force) {
        requireRunning();
        Release target = requireRelease(release);
        if (!(weightPercent >= 0 && weightPercent <= 100)) {
            throw new IllegalArgumentException("weight must be a percentage from 0 to 100, not " + weightPercent);
        }
        if (weightPercent > 0 && Math.round(weightPercent * 100) == 0) {
            // Rounded to the 0.01 % resolution, it would be a canary that gets nobody, though a weight was asked for.
            throw new IllegalArgumentException("weight " + weightPercent + " is below the resolution of 0.01 %");
        }
        if (weightPercent > 0) {
            requireServing(target, "change", force);
        }
        return analysis.operatorChange(() -> canaryAt(release, weightPercent),
                "canary weight set to " + weightPercent + "% by an operator", "ended");
    }

    /**
     * The gate of switch, canary and analysis: one of the release's endpoints answers its health check now. Waits
     * for the answer, up to {@link io.canaryproxy.config.HealthCheckConfig#probeTimeout()}. Forced, the release is
     * still asked, so that an endpoint whose last scheduled check failed but that answers now counts as healthy at
     * once (an analysis would roll back within half a second a canary it still believes unhealthy), but nothing is
     * refused.
     *
     * @throws IllegalStateException naming every endpoint's reason when none answers, unless forced
     */
    private void requireServing(Release target, String action, boolean force) {
        if (onEventLoop()) {
            if (force) {
                return;
            }
            // The probes run on these loops: waiting here for one of them would wait for ever.
            throw new IllegalStateException("a switch or canary change that asks the release must not be"
                    + " called on an event loop of the proxy; force it, or call it from another thread");
        }
        String problem;
        try {
            problem = target.probe().get(config.healthCheck().probeTimeout().toMillis() + PROBE_GRACE_MILLIS,
                    TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            problem = "no endpoint answered within " + config.healthCheck().probeTimeout().toMillis() + " ms";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while asking release '" + target.name() + "'", e);
        } catch (ExecutionException e) {
            problem = e.getCause().toString();
        }
        if (force) {
            if (problem != null) {
                log.warn("release {} has no healthy endpoint ({}); the {} goes ahead, forced", target.name(), problem,
                        action);
            }
            return;
        }
        if (problem != null) {
            throw new IllegalStateException("release '" + target.name() + "' has no healthy endpoint (" + problem
                    + "); start it first, or force the " + action);
        }
        // Its pages would come with a 404 for every asset: a deploy that has not put the files there yet.
        ReleaseConfig rc = config.release(target.name());
        if (rc != null && rc.staticFiles() != null && !Files.isDirectory(rc.staticFiles().root())) {
            throw new IllegalStateException("release '" + target.name() + "' serves " + rc.staticFiles().prefix()
                    + " from " + rc.staticFiles().root() + ", which is not a directory; deploy its static files"
                    + " first, or force the " + action);
        }
    }

    private RouteTable canaryAt(String release, double weightPercent) {
        int basisPoints = (int) Math.round(weightPercent * 100);
        RouteTable table = routes.update(t -> {
            if (release.equals(t.stable())) {
                throw new IllegalArgumentException("'" + release + "' is the stable release; a canary must be another");
            }
            return t.withCanary(release, basisPoints);
        });
        scheduleUpgradedClose();
        return table;
    }

    /**
     * Ends the canary by making it stable at 100 %; the old stable release drains.
     *
     * @throws IllegalStateException when there is no canary
     */
    public RouteTable promote() {
        requireRunning();
        return analysis.operatorChange(this::promoted, "promoted by an operator", "promoted");
    }

    private RouteTable promoted() {
        RouteTable table = routes.update(RouteTable::promote);
        scheduleUpgradedClose();
        return table;
    }

    /**
     * Ends the canary by sending it no more traffic; the stable release is untouched and the canary drains. Like the
     * analysis's rollback, it happens even when the state file cannot be written: a bad canary must not keep its
     * users because the disk is full (see {@link #unsavedState()}).
     *
     * @throws IllegalStateException when there is no canary
     */
    public RouteTable rollback() {
        requireRunning();
        return analysis.operatorChange(this::rolledBackEvenIfUnsaved, "rolled back by an operator", "rolled-back");
    }

    private void saveIfUnsaved() {
        try {
            routes.saveIfUnsaved();
            analysisStore.saveIfUnsaved();
        } catch (RuntimeException e) {
            // Thrown out of a periodic task, it would end the retries for good.
            log.error("saving the route table or the analysis state again failed", e);
        }
    }

    /**
     * Why what is in force is not in the state files, or {@code null} when it is: the route table (a rollback made
     * while it could not be written) or the analysis (a pause, a run started or ended meanwhile). Both are written
     * again as soon as they can be; a restart before then would go back to what the files hold.
     */
    public String unsavedState() {
        String routesUnsaved = routes.unsaved();
        return routesUnsaved != null ? routesUnsaved : analysisStore.unsaved();
    }

    /** The analysis's rollback: it happens even if the state file cannot be written (no operator is watching). */
    private RouteTable rolledBackEvenIfUnsaved() {
        RouteTable table = routes.updateEvenIfUnsaved(RouteTable::rollback);
        scheduleUpgradedClose();
        return table;
    }

    /**
     * Applies a new configuration without dropping a connection: what can change at run time changes, the rest
     * is refused as a whole and the running configuration stays.
     *
     * @return one line per change applied, e.g. {@code "release green: endpoints [127.0.0.1:8001] -> [...]"}, for
     *         the caller to log with who asked (the proxy logs them at DEBUG only)
     * @throws io.canaryproxy.config.ConfigException naming what cannot change without a restart; nothing was
     *                                               applied then
     */
    public synchronized List<String> reload(ProxyConfig next) {
        requireRunning();
        Objects.requireNonNull(next, "next");
        ProxyConfig now = config;
        List<String> refused = new ArrayList<>(ConfigChanges.needingRestart(now, next));
        RouteTable table = routes.table();
        for (String name : new String[] {table.stable(), table.canary()}) {
            if (name != null && next.release(name) == null) {
                refused.add("release " + name + " is in use by the route table and cannot be removed; "
                        + "switch away from it first");
            }
        }
        if (!refused.isEmpty()) {
            throw new io.canaryproxy.config.ConfigException("reload refused, the running configuration stays: "
                    + String.join("; ", refused));
        }
        AnalysisConfig nextAnalysis = next.analysis();
        List<String> changes = ConfigChanges.applied(now, next);
        boolean analysing = analysis.status().state() != Analysis.State.IDLE;
        for (String line : ConfigChanges.between("proxy.analysis", analysisConfig, nextAnalysis)) {
            changes.add(analysing && line.startsWith("proxy.analysis.steps:")
                    ? line + " (from the next run: the running analysis keeps its steps)" : line);
        }
        if (changes.isEmpty()) {
            log.debug("reload: nothing changed");
            return changes;
        }
        Upstreams before = upstreams;
        Upstreams after = Upstreams.rebuild(before, next, transport, loops, registry);
        try {
            routes.reconfigure(after);
        } catch (IllegalArgumentException e) {
            // A switch or canary change made since the check above put a release this file removes in the route
            // table; the new releases start nothing until they are in force, so they are simply dropped.
            throw new io.canaryproxy.config.ConfigException("reload refused, the running configuration stays: the"
                    + " route table (" + routes.table().describe() + ") uses a release the new configuration"
                    + " removes; switch away from it first");
        }
        upstreams = after;
        config = next;
        listener.reconfigure(next, new Router(routes, after, next.routing()));
        if (!analysisConfig.equals(nextAnalysis)) {
            analysis.reconfigure(nextAnalysis, new Webhooks(nextAnalysis.webhooks(), ForkJoinPool.commonPool()));
            analysisConfig = nextAnalysis;
        }
        for (String name : now.releases().keySet()) {
            if (next.release(name) == null) {
                removedReleases.add(name);
            }
        }
        removedReleases.removeAll(next.releases().keySet());
        for (Release r : after.retired()) {
            r.stopHealthChecks();
            r.retire();
            draining.add(r);
        }
        control.execute(() -> {
            if (!sweeping) {
                sweepDrained();
            }
        });
        rebindGauges();
        after.startHealthChecks();
        scheduleUpgradedClose();
        // Returned, not logged at INFO: the caller says who asked for the reload, and logs the changes with that.
        changes.forEach(c -> log.debug("reload: {}", c));
        return changes;
    }

    /**
     * Starts an automated canary analysis of {@code release}: it becomes canary at the first of
     * {@code analysis.steps}, is judged against the stable release every {@code analysis.interval}, and is
     * promoted after the last step or rolled back after {@code analysis.failure-limit} failed checks.
     *
     * @throws IllegalArgumentException for an unknown release or the stable one
     * @throws IllegalStateException    when a run is going on, the release cools down after a rollback and
     *                                  {@code force} is false, or a pre-rollout webhook refused
     */
    public Analysis.Status startAnalysis(String release, boolean force) {
        requireRunning();
        Release target = requireRelease(release);
        if (release.equals(routes.table().stable())) {
            throw new IllegalArgumentException("'" + release + "' is the stable release; a canary must be another");
        }
        requireServing(target, "analysis", force);
        return analysis.start(release, force);
    }

    /**
     * Holds the running analysis at its weight until {@link #resumeAnalysis()}: no check is judged, no step taken.
     *
     * @throws IllegalStateException when no analysis is running
     */
    public Analysis.Status pauseAnalysis() {
        requireRunning();
        return analysis.pause();
    }

    /**
     * Continues a paused analysis at its step, with a fresh interval.
     *
     * @throws IllegalStateException when no analysis is paused
     */
    public Analysis.Status resumeAnalysis() {
        requireRunning();
        return analysis.resume();
    }

    /** Whether the caller runs on one of the proxy's event loops, which must not wait for work of their own. */
    private boolean onEventLoop() {
        for (EventLoop loop : loops) {
            if (loop.inEventLoop()) {
                return true;
            }
        }
        return false;
    }

    /** Refuses a change once a stop has begun: a stopped proxy's state file may already be another proxy's. */
    private void requireRunning() {
        if (stopping) {
            throw new ProxyStoppedException(stopped.isDone() ? "the proxy has stopped" : "the proxy is stopping");
        }
    }

    /** What the control plane of an analysis may do: route-table changes that do not end the analysis itself. */
    private final class AnalysisControl implements Analysis.Control {
        @Override
        public RouteTable routes() {
            return routes.table();
        }

        @Override
        public RouteTable setCanary(String release, double weightPercent) {
            return canaryAt(release, weightPercent);
        }

        @Override
        public RouteTable promote() {
            return promoted();
        }

        @Override
        public RouteTable rollback() {
            return rolledBackEvenIfUnsaved();
        }

        @Override
        public Release release(String name) {
            return upstreams.release(name);
        }
    }

    /** A snapshot of the route table and of every release's endpoints, health and traffic. */
    public ProxyStatus status() {
        Map<String, ProxyStatus.Release> releases = new LinkedHashMap<>();
        for (Release r : upstreams.releases()) {
            releases.put(r.name(), releaseStatus(r.name()));
        }
        // A release a reload removed stays listed while requests that began before still use it, so that a script
        // reading /status does not stop its gunicorn under them; its endpoints say removed.
        for (Release old : draining) {
            if (!releases.containsKey(old.name())) {
                ProxyStatus.Release removed = releaseStatus(old.name());
                if (!removed.drained() || removed.upgraded() > 0) {
                    releases.put(old.name(), removed);
                }
            }
        }
        return new ProxyStatus(routes.table(), releases, analysis.status());
    }

    /**
     * The per-release gauges anew: after a reload, and once a release the reload removed has drained, whose
     * gauges would otherwise stay at 0 for good.
     */
    private synchronized void rebindGauges() {
        if (stopping) {
            return; // the stop removes the meters; gauges bound now would outlive it
        }
        Set<String> removed = new LinkedHashSet<>();
        for (Release old : draining) {
            removed.add(old.name());
        }
        gauges.forEach(registry::remove);
        gauges = ProxyMeters.bind(registry, upstreams, removed, routes, totals);
    }

    /** What the gauges report per release: the same sums as {@link #releaseStatus}. */
    private final ProxyMeters.Totals totals = new ProxyMeters.Totals() {
        @Override
        public long inflight(String release) {
            return releaseStatus(release).inflight();
        }

        @Override
        public long connections(String release) {
            return releaseStatus(release).connections();
        }

        @Override
        public long upgraded(String release) {
            return releaseStatus(release).upgraded();
        }
    };

    /**
     * A release's state, counting what is still open on the generations of it that a reload replaced: the
     * processes behind them may be the same ones a deploy script is about to stop.
     */
    private ProxyStatus.Release releaseStatus(String name) {
        Release current = upstreams.release(name);
        long inflight = 0;
        long connections = 0;
        long upgraded = 0;
        List<Release> generations = new ArrayList<>();
        if (current != null) {
            generations.add(current);
        }
        for (Release old : draining) {
            if (!drained(old) && old.name().equals(name) && old != current) {
                generations.add(old);
            }
        }
        for (Release g : generations) {
            inflight += g.inflight();
            connections += g.connections();
            upgraded += g.upgradedCount();
        }
        // One entry per address: an endpoint kept across a reload counts the connections of every generation,
        // and one the reload removed stays listed while it has any.
        Map<String, ProxyStatus.Endpoint> endpoints = new LinkedHashMap<>();
        for (Release g : generations) {
            boolean removed = g != current;
            for (Endpoint e : g.endpoints()) {
                String address = e.address().toString();
                long open = e.openConnections();
                ProxyStatus.Endpoint known = endpoints.get(address);
                if (known != null) {
                    endpoints.put(address, new ProxyStatus.Endpoint(address, known.healthy(),
                            known.connections() + open, known.removed(), known.problem()));
                } else if (!removed || open > 0) {
                    endpoints.put(address, new ProxyStatus.Endpoint(address, e.healthy(), open, removed,
                            e.problem()));
                }
            }
        }
        return new ProxyStatus.Release(name, List.copyOf(endpoints.values()), inflight, connections, upgraded,
                routes.table().routes(name));
    }

    /**
     * The requests to {@code release} still under way, oldest first, at most {@code max}, counting those on the
     * generations of it a reload left draining (as {@link #status()} counts them): what a drain that did not finish
     * waits for. Upgraded connections are not requests and are not listed.
     */
    public CompletableFuture<List<InFlightRequest>> requestsInFlight(String release, int max) {
        if (max < 0) {
            throw new IllegalArgumentException("max must be 0 or more, not " + max);
        }
        return listener.inFlight(release, max);
    }

    /**
     * Completes with the release's state once it is drained (routed nowhere, no request in flight, no connection
     * open), or with its state at the deadline, or at a stop that comes first. Never completes exceptionally for a
     * known release.
     *
     * @throws IllegalArgumentException when no release has that name
     * @throws IllegalStateException    when the route table sends users to the release: it is the stable one or the
     *                                  canary, and waiting would only end at the deadline (a deploy script that
     *                                  drained its live release and then stopped it would take the site down),
     *                                  or once the proxy is stopping
     */
    public CompletableFuture<ProxyStatus.Release> awaitDrained(String release, Duration timeout) {
        requireRunning();
        if (release == null || upstreams.release(release) == null && !removedReleases.contains(release)) {
            requireRelease(release); // throws, naming the known ones
        }
        RouteTable table = routes.table();
        if (table.routes(release)) {
            throw new IllegalStateException("release '" + release + "' still gets traffic: it is the "
                    + (release.equals(table.stable()) ? "stable release" : "canary")
                    + "; switch away from it before draining it");
        }
        CompletableFuture<ProxyStatus.Release> result = new CompletableFuture<>();
        long start = System.nanoTime();
        long limit = saturatedNanos(timeout);
        Runnable[] poll = new Runnable[1];
        poll[0] = () -> {
            synchronized (drainWaits) {
                if (cutting) {
                    // The stop completes it, with the state before its cut: what it cuts is not drained.
                    return;
                }
                ProxyStatus.Release s = releaseStatus(release);
                if (s.drained() || System.nanoTime() - start >= limit) {
                    result.complete(s);
                    return;
                }
            }
            control.schedule(poll[0], DRAIN_POLL_MILLIS, TimeUnit.MILLISECONDS);
        };
        drainWaits.put(result, release);
        result.whenComplete((s, e) -> drainWaits.remove(result));
        try {
            control.execute(poll[0]);
        } catch (RejectedExecutionException stopped) {
            result.complete(releaseStatus(release));
        }
        return result;
    }

    private static long saturatedNanos(Duration d) {
        try {
            return d.toNanos();
        } catch (ArithmeticException tooLong) {
            return d.isNegative() ? Long.MIN_VALUE : Long.MAX_VALUE;
        }
    }

    /**
     * Graceful stop: stops accepting, lets in-flight requests finish (at most {@code drain.timeout}), closes every
     * connection, releases the threads and removes the proxy's meters from its registry. Returns once all that is
     * done, also when another thread's stop is under way; on one of the proxy's event loops, where it cannot wait,
     * a stop already under way makes it return at once. Idempotent.
     *
     * @throws IllegalStateException on one of the proxy's event loops (in a callback of a future the proxy
     *                               completed there, say) when no stop is under way: the stop waits for those
     *                               loops to end; call it from another thread
     */
    public void stop() {
        boolean onLoop = onEventLoop();
        boolean first;
        synchronized (this) {
            if (onLoop && !stopping) {
                throw new IllegalStateException("stop() waits for the proxy's event loops to end, so it cannot be"
                        + " called on one of them; call it from another thread");
            }
            first = !stopping;
            stopping = true;
        }
        if (!first) {
            if (!onLoop) {
                // Drain waits' callbacks run after the stop is done: one that stops again does not wait for itself.
                stopped.join();
            }
            return;
        }
        Map<CompletableFuture<ProxyStatus.Release>, ProxyStatus.Release> waitsAtStop = new LinkedHashMap<>();
        try {
            stopNow(waitsAtStop);
        } finally {
            // After the stop's last save, whatever the stop met: no later change is written, and a proxy started
            // next in this JVM may take the state file.
            routes.close();
            stopped.complete(null);
            // Last, after the stop is done: a callback of one of these may call stop() again, and must find it done.
            waitsAtStop.forEach(CompletableFuture::complete);
            drainWaits.forEach((waiting, release) -> waiting.complete(releaseStatus(release)));
        }
    }

    /**
     * Stops, putting in {@code waitsAtStop} each drain wait under way with its release's state as the stop is about
     * to cut what is still open: a release drained only because the stop cut its requests is not drained.
     */
    private void stopNow(Map<CompletableFuture<ProxyStatus.Release>, ProxyStatus.Release> waitsAtStop) {
        log.info("stopping: no new connections, waiting up to {} for requests in flight",
                DurationText.of(config.drain().timeout()));
        listener.stopAccepting();
        analysis.close();
        upstreams.stopHealthChecks();
        long deadline = System.nanoTime() + config.drain().timeout().toNanos();
        awaitNone(() -> inflight() + listener.awaitingFirstRequest(), deadline);
        // WebSocket clients were sent a Close frame as the stop began; a moment lets them read it and go.
        awaitNone(() -> sum(Release::upgradedCount),
                Math.min(deadline, System.nanoTime() + TimeUnit.SECONDS.toNanos(1)));
        synchronized (drainWaits) {
            cutting = true;
            drainWaits.forEach((waiting, release) -> waitsAtStop.put(waiting, releaseStatus(release)));
        }
        long left = inflight();
        if (left > 0) {
            log.warn("stopping with {} still in flight after {}", left == 1 ? "1 request" : left + " requests",
                    DurationText.of(config.drain().timeout()));
        }
        listener.closeClients();
        for (Release r : upstreams.releases()) {
            r.closeUpgraded();
        }
        for (Release r : draining) {
            r.closeUpgraded();
        }
        List<Release> all = new ArrayList<>(upstreams.releases());
        all.addAll(draining);
        for (Release r : all) {
            r.closeUpstreamChannels().awaitUninterruptibly(2, TimeUnit.SECONDS);
        }
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        // After the loops: the requests cut above are logged there, as their connections close.
        listener.flushFailureLog();
        control.shutdownNow();
        if (Thread.currentThread() == controlThread) {
            // This stop runs on the control thread (a drain wait's callback), which shutdownNow interrupted: the
            // saves below write through interruptible channels.
            Thread.interrupted();
        } else {
            // A task under way (an analysis check, a rebind of the gauges) may still register a meter.
            try {
                control.awaitTermination(2, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        // The last chance to write what the retries have not: the next start reads these files.
        saveIfUnsaved();
        removeMeters(registry);
        String unsaved = unsavedState();
        if (unsaved != null) {
            log.error("stopping with state not saved: {}", unsaved);
        }
        log.info("stopped");
    }

    /**
     * Removes the proxy's meters, so that another proxy may register them anew and nothing holds this one. Every
     * {@code canary.proxy.*} meter of the registry is this proxy's: a start refuses a registry that has any.
     */
    private static void removeMeters(MeterRegistry registry) {
        for (Meter m : List.copyOf(registry.getMeters())) {
            if (m.getId().getName().startsWith(METER_PREFIX)) {
                registry.remove(m);
            }
        }
    }

    /** Same as {@link #stop()}. */
    @Override
    public void close() {
        stop();
    }

    /** Waits until {@code count} is 0 or {@code deadline} ({@link System#nanoTime}) has passed. */
    private static void awaitNone(LongSupplier count, long deadline) {
        while (count.getAsLong() > 0 && System.nanoTime() - deadline < 0) {
            try {
                Thread.sleep(DRAIN_POLL_MILLIS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** {@code what} summed over every release, those a reload replaced included. */
    private long sum(ToLongFunction<Release> what) {
        long sum = 0;
        for (Release r : upstreams.releases()) {
            sum += what.applyAsLong(r);
        }
        for (Release r : draining) {
            sum += what.applyAsLong(r);
        }
        return sum;
    }

    /** Requests a stop waits for: those of every release, and responses clients still take from disk. */
    private long inflight() {
        return listener.buffered() + sum(Release::inflight);
    }

    /**
     * Every half second while a generation a reload replaced still has anything open; one chain at a time, however
     * many reloads come meanwhile ({@link #sweeping} is read and written on the control thread only).
     */
    private void sweepDrained() {
        sweeping = false;
        for (Release old : draining) {
            drained(old);
        }
        if (!draining.isEmpty() && !control.isShutdown()) {
            sweeping = true;
            control.schedule(this::sweepDrained, DRAIN_SWEEP_MILLIS, TimeUnit.MILLISECONDS);
        }
    }

    /**
     * Whether a generation a reload replaced has nothing open any more; the first to see it so forgets it and
     * logs the endpoints the reload took out that nothing uses now, which can be stopped. An address an older
     * generation still has connections to, or that a release lists again, is not named: a reload that only changed
     * a timeout makes a generation with the same endpoints, and the one before it may still be serving.
     */
    private boolean drained(Release old) {
        if (old.inflight() != 0 || old.connections() != 0 || old.upgradedCount() != 0) {
            return false;
        }
        if (draining.remove(old)) {
            if (upstreams.release(old.name()) == null && !control.isShutdown()
                    && draining.stream().noneMatch(other -> other.name().equals(old.name()))) {
                // Not from here: a gauge read during a scrape may be what found it drained.
                control.execute(this::rebindGauges);
            }
            List<String> gone = new ArrayList<>();
            for (Endpoint e : old.endpoints()) {
                if (!listedAnywhere(e.address())) {
                    gone.add(e.address().toString());
                }
            }
            if (!gone.isEmpty()) {
                log.info("release {}: no connections left to {}, which a reload took out", old.name(),
                        String.join(", ", gone));
            }
        }
        return true;
    }

    private boolean listedAnywhere(EndpointAddress address) {
        List<Release> all = new ArrayList<>(upstreams.releases());
        all.addAll(draining);
        for (Release r : all) {
            for (Endpoint e : r.endpoints()) {
                if (e.address().equals(address)) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * Closes, {@code drain.timeout} after a change of the route table, the upgraded connections of the releases
     * that have been unrouted for that long. A release unrouted by a later change waits for that change's timer.
     */
    private void scheduleUpgradedClose() {
        long timeout = config.drain().timeout().toNanos();
        control.schedule(() -> {
            long now = System.nanoTime();
            List<Release> candidates = new ArrayList<>(upstreams.releases());
            candidates.addAll(draining);
            for (Release r : candidates) {
                if (r.upgradedCount() == 0) {
                    continue;
                }
                int closed = 0;
                if (r.retiredForNanos(now) >= timeout) {
                    closed = r.closeAllUpgraded();
                } else if (!r.routed() && r.unroutedForNanos(now) >= timeout) {
                    closed = r.closeUpgradedFromBeforeUnrouted();
                }
                if (closed > 0) {
                    log.info("closed {} upgraded connections of release {}{} after the drain timeout", closed,
                            r.name(), draining.contains(r) ? " to endpoints or pools a reload replaced" : "");
                }
            }
        }, timeout, TimeUnit.NANOSECONDS);
    }

    private Release requireRelease(String name) {
        Release r = name == null ? null : upstreams.release(name);
        if (r == null) {
            throw new IllegalArgumentException("unknown release '" + name + "' (known: "
                    + String.join(", ", config.releases().keySet()) + ")");
        }
        return r;
    }

    /** The analysis saved beside the state file: a file that is there but unusable stops the start, as that one. */
    private static Optional<AnalysisStore.Saved> savedAnalysis(AnalysisStore store, ProxyConfig config) {
        try {
            return store.read();
        } catch (IOException e) {
            throw ConfigException.invalid("proxy.state-file", config.stateFile().toString(), "the analysis saved"
                    + " beside it, " + store.path() + ", cannot be read: " + StateFile.reason(e) + ". Fix it, or"
                    + " remove it to start without the analysis it held (a run, cool-downs, the last outcome)");
        }
    }

    private static RouteTable initialRoutes(ProxyConfig config, StateFile stateFile) {
        RoutingConfig routing = config.routing();
        RouteTable fromConfig = new RouteTable(routing.stable(), routing.canary(),
                routing.canary() == null ? 0 : routing.weightBasisPoints(), 0, Instant.now());
        if (stateFile == null) {
            return fromConfig;
        }
        // A state file that is there but unusable stops the start: falling back to routing.stable could send every
        // user to a release whose processes were stopped after the last switch, and say so only in a warning.
        Optional<RouteTable> stored;
        try {
            stored = stateFile.read();
        } catch (IOException e) {
            throw ConfigException.invalid("proxy.state-file", stateFile.path().toString(), "cannot be read: "
                    + StateFile.reason(e) + ". Fix it, or remove it to start with routing.stable = "
                    + routing.stable() + " from the configuration");
        }
        if (stored.isEmpty()) {
            return fromConfig;
        }
        RouteTable t = stored.get();
        for (String name : new String[] {t.stable(), t.canary()}) {
            if (name != null && config.release(name) == null) {
                throw ConfigException.invalid("proxy.state-file", stateFile.path().toString(), "routes users to"
                        + " release '" + name + "', which proxy.releases does not have (known: "
                        + String.join(", ", config.releases().keySet()) + "). Add it back, or remove the state file"
                        + " to start with routing.stable = " + routing.stable() + " from the configuration");
            }
        }
        log.info("route table restored from {}: {}", stateFile.path(), t.describe());
        return t;
    }
}
