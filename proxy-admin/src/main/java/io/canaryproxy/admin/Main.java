package io.canaryproxy.admin;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.config.ConfigException;
import io.canaryproxy.config.ConfigLoader;
import io.canaryproxy.config.HostPort;
import io.canaryproxy.config.ProxyConfig;
import io.canaryproxy.config.ReleaseConfig;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.function.BiConsumer;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * The command-line launcher: {@code java -jar canary-proxy.jar [--config FILE]} runs the proxy and its admin API
 * until SIGTERM or SIGINT, re-reading the config file on SIGHUP; {@code canary-proxy demo} (or {@code --demo}) runs
 * it in front of two built-in backends; {@code canary-proxy ctl ...} talks to a running proxy's admin API
 * ({@link Ctl}).
 *
 * <p>Exit status: 0 after a graceful stop (also on SIGTERM/SIGINT), 2 for a configuration or usage error or a
 * listener that cannot be bound (one line on stderr, no stack trace), 1 for anything unexpected.
 */
@Command(name = "canary-proxy",
        mixinStandardHelpOptions = true,
        versionProvider = Main.Version.class,
        sortOptions = false,
        usageHelpAutoWidth = true,
        description = {
            "Blue/green and canary reverse proxy in front of an application's releases.",
            "Runs the proxy and its admin API until SIGTERM or SIGINT, then stops gracefully."
        },
        subcommands = {Main.DemoCommand.class, Ctl.class})
public final class Main implements Callable<Integer> {

    /** Exit status of a configuration, usage or bind error. */
    public static final int EXIT_CONFIG = 2;
    /** Exit status of an unexpected failure. */
    public static final int EXIT_FAILURE = 1;

    private static final Logger log = LoggerFactory.getLogger(Main.class);

    @Option(names = {"-c", "--config"}, paramLabel = "FILE", defaultValue = "conf/canary-proxy.conf",
            description = "Configuration file (HOCON). Default: ${DEFAULT-VALUE}")
    Path config;

    @Option(names = "--demo", description = "Run the demo instead (same as the demo command).")
    boolean demo;

    @Mixin
    DemoOptions demoOptions;

    @Spec
    CommandSpec spec;

    private static final String LEAK_DETECTION = "io.netty.leakDetection.level";

    public static void main(String... args) {
        // Netty's default leak detection samples buffers and records a stack trace for some: measurably slower
        // per request (a few percent of throughput) and not needed by a release whose test suite runs the detector
        // at its strictest. An operator's own -Dio.netty.leakDetection.level still wins.
        if (System.getProperty(LEAK_DETECTION) == null) {
            System.setProperty(LEAK_DETECTION, "disabled");
        }
        System.exit(run(args));
    }

    /** Runs the command line and returns its exit status without exiting the JVM. */
    public static int run(String... args) {
        PrintWriter out = new PrintWriter(System.out, true, StandardCharsets.UTF_8);
        PrintWriter err = new PrintWriter(System.err, true, StandardCharsets.UTF_8);
        return run(out, err, args);
    }

    static int run(PrintWriter out, PrintWriter err, String... args) {
        CommandLine commandLine = new CommandLine(new Main());
        commandLine.setOut(out);
        commandLine.setErr(err);
        commandLine.setExecutionExceptionHandler((e, cmd, parseResult) -> failed(e, cmd.getErr()));
        try {
            return commandLine.execute(args);
        } finally {
            out.flush();
            err.flush();
        }
    }

    @Override
    public Integer call() {
        if (demo) {
            return runDemo(demoOptions, spec.commandLine());
        }
        if (demoOptions.listen != null || demoOptions.admin != null) {
            throw new ParameterException(spec.commandLine(), "--listen and --admin are for the demo;"
                    + " the proxy takes its addresses from proxy.listen and proxy.admin.listen in " + config);
        }
        return serve(loadConfig(config), config, (proxy, admin) -> { });
    }

    /** {@code canary-proxy demo}. */
    @Command(name = "demo",
            mixinStandardHelpOptions = true,
            versionProvider = Main.Version.class,
            usageHelpAutoWidth = true,
            description = {
                "Runs the proxy in front of two built-in backends, blue and green, to try switching releases.",
                "Nothing is written to disk."
            })
    static final class DemoCommand implements Callable<Integer> {

        @Mixin
        DemoOptions options;

        @CommandLine.ParentCommand
        Main parent;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() {
            return parent.runDemo(options, spec.commandLine());
        }
    }

    /** The demo's addresses. */
    static final class DemoOptions {

        @Option(names = "--listen", paramLabel = "HOST:PORT",
                description = "The demo's public address. Default: 127.0.0.1:8080")
        String listen;

        @Option(names = "--admin", paramLabel = "HOST:PORT",
                description = "The demo's admin API address. Default: 127.0.0.1:9901")
        String admin;
    }

    /** Runs the demo; {@code command} is the command line it was asked for by, whose usage a mistake prints. */
    int runDemo(DemoOptions options, CommandLine command) {
        CommandLine.ParseResult parsed = spec.commandLine().getParseResult();
        if (parsed != null && parsed.hasMatchedOption("--config")) {
            throw new ParameterException(spec.commandLine(), "--config is not for the demo, which runs without a"
                    + " config file; run the proxy with --config FILE alone");
        }
        HostPort listen = hostPort(command, "--listen", options.listen, Demo.DEFAULT_LISTEN);
        HostPort admin = hostPort(command, "--admin", options.admin, Demo.DEFAULT_ADMIN);
        PrintWriter out = spec.commandLine().getOut();
        try (DemoBackends backends = DemoBackends.start(Demo.RELEASES)) {
            ProxyConfig demoConfig = Demo.config(listen, admin, backends.addresses());
            return serve(demoConfig, null,
                    (proxy, adminServer) -> {
                        Demo.hints(proxy.listenAddress(), adminServer.address(), backends.addresses())
                                .forEach(out::println);
                        out.flush();
                    });
        }
    }

    private static HostPort hostPort(CommandLine command, String option, String value, HostPort defaultValue) {
        if (value == null) {
            return defaultValue;
        }
        try {
            return HostPort.parse(value);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(command, option + " \"" + value + "\": " + e.getMessage());
        }
    }

    /**
     * Reads the configuration file with the process's system properties and environment on top (the loader skips
     * the variables of {@code ctl}, {@link ConfigLoader#NON_CONFIG_VARIABLES}); a missing or unreadable file is a
     * {@link ConfigException} too.
     */
    static ProxyConfig loadConfig(Path file) {
        return loadConfig(file, " (choose one with --config FILE)");
    }

    /** {@link #loadConfig(Path)} with what to say when the file is not there: a reload cannot choose another. */
    static ProxyConfig loadConfig(Path file, String whenMissing) {
        if (!Files.exists(file)) {
            throw new ConfigException("config file " + show(file) + " not found" + whenMissing);
        }
        if (Files.isDirectory(file)) {
            throw new ConfigException("config file " + show(file) + " is a directory");
        }
        if (!Files.isReadable(file)) {
            throw new ConfigException("config file " + show(file) + " is not readable");
        }
        return ConfigLoader.load(file, System.getenv(), System.getProperties());
    }

    private static String show(Path file) {
        return file.isAbsolute() ? file.toString() : file + " (" + file.toAbsolutePath().normalize() + ")";
    }

    /**
     * Starts the proxy and the admin API, calls {@code started}, waits for SIGTERM or SIGINT and stops both. SIGHUP
     * and {@code POST /reload} re-read {@code configFile}.
     *
     * @param configFile the file {@code config} was read from, or {@code null} (the demo) when there is none
     * @return the exit status
     */
    static int serve(ProxyConfig config, Path configFile, BiConsumer<CanaryProxy, AdminServer> started) {
        // The demo's addresses come from its options, which the answer names; a config file's are its listen keys.
        String listenHint = configFile == null ? " (choose another with --listen HOST:PORT)" : "";
        String adminHint = configFile == null ? " (choose another with --admin HOST:PORT)" : "";
        try {
            AdminServer.checkExposure(config.admin());
        } catch (IllegalStateException e) {
            throw new StartupException(e.getMessage(), e);
        }
        try (ShutdownSignals signals = ShutdownSignals.install(); ExportedMetrics metrics = ExportedMetrics.create()) {
            try {
                AdminServer.checkBindable(config.admin());
            } catch (StartupException e) {
                throw new StartupException(e.getMessage() + adminHint, e);
            }
            CanaryProxy proxy = startProxy(config, metrics, listenHint);
            ConfigReloader reloader = configFile == null
                    ? ConfigReloader.withoutFile(proxy, "the demo runs without a config file, so there is none to"
                            + " re-read (restart the demo to change it)")
                    : ConfigReloader.fromFile(proxy, configFile);
            AdminServer admin;
            try {
                admin = new AdminServer(proxy, config.admin(), reloader).start();
            } catch (RuntimeException e) {
                stopQuietly(proxy);
                if (e instanceof StartupException) {
                    throw new StartupException(e.getMessage() + adminHint, e);
                }
                throw e;
            }
            boolean clean = true;
            ReloadSignal hup = null;
            try {
                hup = ReloadSignal.install(reloader);
                logStarted(proxy, admin);
                started.accept(proxy, admin);
                log.info("{} received: stopping", signals.await());
            } finally {
                if (hup != null) {
                    hup.close();
                }
                clean &= stopQuietly(proxy);
                admin.close();
            }
            log.info("exiting");
            return clean ? 0 : EXIT_FAILURE;
        }
    }

    private static CanaryProxy startProxy(ProxyConfig config, ExportedMetrics metrics, String listenHint) {
        try {
            return CanaryProxy.start(config, metrics.registry());
        } catch (ConfigException e) {
            throw e;
        } catch (Exception e) {
            // Netty rethrows a bind failure as the checked exception it is, undeclared; hence Exception.
            String reason = bindFailure(e);
            if (reason != null) {
                throw new StartupException("cannot listen on " + config.listen() + ": " + reason + listenHint, e);
            }
            if (e instanceof RuntimeException runtime) {
                throw runtime;
            }
            throw new IllegalStateException("cannot start the proxy: " + e, e);
        }
    }

    /**
     * Why a listener could not be bound ({@code Address already in use}), from the innermost bind failure in the
     * cause chain of {@code failure}, or {@code null} when it is not a bind failure.
     */
    static String bindFailure(Throwable failure) {
        String reason = null;
        Set<Throwable> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        for (Throwable t = failure; t != null && seen.add(t); t = t.getCause()) {
            String message = t.getMessage();
            if (t instanceof BindException) {
                reason = message == null ? "cannot bind" : lastPart(message);
            } else if (t instanceof IOException && message != null
                    && (message.contains("bind(") || message.contains("Address already in use"))) {
                // Netty's native transports: "bind(..) failed with error(-98): Address already in use"
                reason = lastPart(message);
            }
        }
        return reason;
    }

    /** {@code Address already in use} out of {@code cannot listen on x: bind(..) failed: Address already in use}. */
    private static String lastPart(String message) {
        int colon = message.lastIndexOf(": ");
        return colon >= 0 ? message.substring(colon + 2) : message;
    }

    private static void logStarted(CanaryProxy proxy, AdminServer admin) {
        ProxyConfig config = proxy.config();
        log.info("canary-proxy {} listening on {}", Version.version(), address(proxy.listenAddress()));
        log.info("admin API on http://{}/{}", address(admin.address()),
                hasToken(config) ? " (mutations need the admin token)" : "");
        for (ReleaseConfig release : config.releases().values()) {
            log.info("release {}: {}", release.name(),
                    release.endpoints().stream().map(Object::toString).collect(Collectors.joining(", ")));
        }
        log.info("route table v{}: {}", proxy.routes().version(), proxy.routes().describe());
    }

    private static boolean hasToken(ProxyConfig config) {
        return config.admin().token() != null && !config.admin().token().isBlank();
    }

    private static String address(InetSocketAddress address) {
        return Demo.hostPort(address);
    }

    private static boolean stopQuietly(CanaryProxy proxy) {
        try {
            proxy.stop();
            return true;
        } catch (RuntimeException e) {
            log.error("stopping the proxy failed", e);
            return false;
        }
    }

    /**
     * Maps a failure of the command to an exit status and, for the operator, one line on stderr; a configuration
     * with several problems gets a line for each.
     */
    private static int failed(Exception e, PrintWriter err) {
        if (e instanceof ConfigException) {
            err.println("canary-proxy: " + problemLines(e.getMessage()));
            err.flush();
            return EXIT_CONFIG;
        }
        if (e instanceof StartupException) {
            err.println("canary-proxy: " + oneLine(e.getMessage()));
            err.flush();
            return EXIT_CONFIG;
        }
        log.error("canary-proxy failed", e);
        err.println("canary-proxy: " + oneLine(String.valueOf(e)));
        err.flush();
        return EXIT_FAILURE;
    }

    /** "2 problems in the configuration:", then each problem on a line of its own, indented. */
    static String problemLines(String message) {
        String[] lines = (message == null ? "" : message.strip()).split("\\R\\s*");
        return lines.length == 1 ? lines[0] : String.join(System.lineSeparator() + "  ", lines);
    }

    static String oneLine(String message) {
        if (message == null) {
            return "";
        }
        // "2 problems in the configuration:\n  a\n  b" -> "2 problems in the configuration: a; b"
        return message.strip().replaceAll(":\\h*\\R\\s*", ": ").replaceAll("\\h*\\R\\s*", "; ");
    }

    /** The version this jar was built as. */
    static final class Version implements CommandLine.IVersionProvider {

        static String version() {
            Properties properties = new Properties();
            try (InputStream in = Main.class.getResourceAsStream("version.properties")) {
                if (in != null) {
                    properties.load(in);
                }
            } catch (IOException e) {
                // no version then
            }
            return properties.getProperty("version", "unknown");
        }

        @Override
        public String[] getVersion() {
            return new String[] {"canary-proxy " + version(),
                "Java " + System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + ")"};
        }
    }
}
