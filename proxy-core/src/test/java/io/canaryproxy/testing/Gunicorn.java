package io.canaryproxy.testing;

import static org.awaitility.Awaitility.await;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.awaitility.core.ConditionTimeoutException;
import org.awaitility.core.TerminalFailureException;

/**
 * A real gunicorn (Debian's {@code /usr/bin/gunicorn}, gthread workers) serving the test Django
 * app of {@code proxy-core/src/test/django} as one release.
 *
 * <pre>{@code
 * try (Gunicorn blue = Gunicorn.unixSocket("blue", tempDir).start();
 *      Gunicorn green = Gunicorn.tcp("green").workers(1).start()) {
 *   config: endpoints = [blue.endpoint()]   // "unix:/tmp/.../blue.sock"
 * }
 * }</pre>
 *
 * <p>gunicorn runs with {@code --keep-alive 2 --graceful-timeout 10}, in its own process group
 * (so {@link #kill9()} takes the workers down with the master), with environment {@code
 * RELEASE=<name>}. Its output goes to {@link #logFile()} under the module's {@code target/}.
 * Everything still running when the JVM exits is killed.
 */
public final class Gunicorn implements AutoCloseable {

  public static final Path GUNICORN = Path.of("/usr/bin/gunicorn");

  /** System property overriding where the Django project (the dir holding testapp/) is. */
  public static final String APP_DIR_PROPERTY = "canaryproxy.testapp.dir";

  private static final Set<Gunicorn> RUNNING = ConcurrentHashMap.newKeySet();
  private static final AtomicInteger SEQUENCE = new AtomicInteger();

  static {
    Runtime.getRuntime().addShutdownHook(new Thread(() -> RUNNING.forEach(Gunicorn::killGroup),
        "gunicorn-cleanup"));
  }

  private final String release;
  private final Path socketPath;
  private int port;
  private final Path logFile;

  private int workers = 2;
  private int threads = 4;
  private boolean accessLog = true;
  private Duration startTimeout = Duration.ofSeconds(30);
  private final Map<String, String> extraEnv = new LinkedHashMap<>();
  private final List<String> extraArgs = new ArrayList<>();

  private Process process;
  private List<ProcessHandle> workersBeforeHup = List.of();

  private Gunicorn(String release, Path socketPath) {
    this.release = release;
    this.socketPath = socketPath;
    this.logFile = logDirectory().resolve(release + "-" + ProcessHandle.current().pid() + "-"
        + SEQUENCE.incrementAndGet() + ".log");
  }

  /** gunicorn bound to {@code unix:<dir>/<release>.sock}. Keep {@code dir} short (sun_path). */
  public static Gunicorn unixSocket(String release, Path dir) {
    Path socket = dir.toAbsolutePath().resolve(release + ".sock");
    if (socket.toString().getBytes(StandardCharsets.UTF_8).length > 100) {
      throw new IllegalArgumentException("Unix socket path too long (max ~100 bytes): " + socket);
    }
    return new Gunicorn(release, socket);
  }

  /** gunicorn bound to a free TCP port on 127.0.0.1 (chosen at {@link #start()}). */
  public static Gunicorn tcp(String release) {
    return new Gunicorn(release, null);
  }

  // --- options (before start) -------------------------------------------------------------------

  /** Number of worker processes (default 2). */
  public Gunicorn workers(int workers) {
    this.workers = workers;
    return this;
  }

  /** Threads per gthread worker (default 4). */
  public Gunicorn threads(int threads) {
    this.threads = threads;
    return this;
  }

  /** Whether gunicorn writes an access log line per request to {@link #logFile()} (default on). */
  public Gunicorn accessLog(boolean enabled) {
    this.accessLog = enabled;
    return this;
  }

  /** An extra environment variable for the app. */
  public Gunicorn env(String name, String value) {
    extraEnv.put(name, value);
    return this;
  }

  /** Extra gunicorn command-line arguments (appended before the app module). */
  public Gunicorn args(String... args) {
    Collections.addAll(extraArgs, args);
    return this;
  }

  /** How long {@link #start()} waits for {@code GET /healthz} to answer 200 (default 30 s). */
  public Gunicorn startTimeout(Duration timeout) {
    this.startTimeout = timeout;
    return this;
  }

  // --- lifecycle --------------------------------------------------------------------------------

  /**
   * Starts gunicorn and waits until {@code GET /healthz} answers 200. May be called again after
   * {@link #stop()} or {@link #kill9()}: it restarts on the same socket path / port.
   */
  public Gunicorn start() {
    if (isRunning()) {
      throw new IllegalStateException("gunicorn " + release + " is already running");
    }
    if (!Files.isExecutable(GUNICORN)) {
      throw new IllegalStateException(GUNICORN + " is missing: install the Debian packages"
          + " gunicorn and python3-django (apt-get install gunicorn python3-django), or run .ci/run");
    }
    boolean choosePort = socketPath == null && port == 0;
    for (int attempt = 1; ; attempt++) {
      if (choosePort) {
        port = Ports.unused();
      }
      try {
        launch();
        return this;
      } catch (PortInUseException e) {
        if (!choosePort || attempt == 3) {
          throw new IllegalStateException(e.getMessage());
        }
        // another process took the port between probing and binding; take another
      }
    }
  }

  private void launch() {
    Path appDir = appDir();
    List<String> command = new ArrayList<>(List.of(
        "/usr/bin/setsid", GUNICORN.toString(),
        "--worker-class", "gthread",
        "--workers", Integer.toString(workers),
        "--threads", Integer.toString(threads),
        "--keep-alive", "2",
        "--graceful-timeout", "10",
        "--timeout", "60",
        "--bind", socketPath != null ? "unix:" + socketPath : "127.0.0.1:" + port,
        "--name", "canary-test-" + release,
        "--error-logfile", "-",
        "--log-level", "info"));
    if (accessLog) {
      command.addAll(List.of("--access-logfile", "-"));
    }
    command.addAll(extraArgs);
    command.add("testapp.wsgi:application");

    ProcessBuilder builder = new ProcessBuilder(command)
        .directory(appDir.toFile())
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()));
    Map<String, String> env = builder.environment();
    // Debian's python3 must not pick up another interpreter's settings.
    env.keySet().removeIf(k -> k.startsWith("PYTHON") || k.equals("VIRTUAL_ENV")
        || k.equals("GUNICORN_CMD_ARGS") || k.equals("DJANGO_SETTINGS_MODULE"));
    env.put("PYTHONPATH", appDir.toString());
    env.put("PYTHONDONTWRITEBYTECODE", "1");
    env.put("PYTHONUNBUFFERED", "1");
    env.put("DJANGO_SETTINGS_MODULE", "testapp.settings");
    env.put("RELEASE", release);
    env.putAll(extraEnv);

    long logOffset = logSize();
    try {
      appendLog("==== starting: " + String.join(" ", command) + "\n");
      process = builder.start();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start " + command, e);
    }
    RUNNING.add(this);
    Process started = process;
    try {
      await("gunicorn " + release + " answering GET /healthz on " + endpoint())
          .atMost(startTimeout)
          .pollDelay(Duration.ofMillis(50))
          .pollInterval(Duration.ofMillis(50))
          .failFast("gunicorn " + release + " exited", () -> !started.isAlive())
          .ignoreExceptions()
          .until(this::healthy);
    } catch (ConditionTimeoutException | TerminalFailureException e) {
      String log = logSince(logOffset);
      killGroup();
      if (log.contains("Connection in use")) {
        throw new PortInUseException("gunicorn " + release + " could not bind " + endpoint());
      }
      throw new IllegalStateException("gunicorn " + release + " did not become healthy on "
          + endpoint() + " (" + e.getMessage() + "); log " + logFile + ":\n" + log, e);
    }
  }

  private boolean healthy() throws IOException {
    try (RawHttpClient client = client().readTimeout(Duration.ofSeconds(2))) {
      return client.get("/healthz", Map.of("Connection", "close")).status() == 200;
    }
  }

  /**
   * Sends SIGHUP to the master: gunicorn starts new workers and gracefully stops the old ones.
   * Returns the worker PIDs from before; {@link #awaitWorkersReplaced()} waits for them to go.
   */
  public Set<Long> hup() {
    requireRunning();
    workersBeforeHup = process.toHandle().children().filter(h -> !isGone(h.pid())).toList();
    signal("HUP", Long.toString(process.pid()));
    return workersBeforeHup.stream().map(ProcessHandle::pid)
        .collect(Collectors.toUnmodifiableSet());
  }

  /** Waits (up to 30 s) until the workers from before the last {@link #hup()} are replaced. */
  public void awaitWorkersReplaced() {
    awaitWorkersReplaced(Duration.ofSeconds(30));
  }

  /**
   * Waits until none of the workers from before the last {@link #hup()} is alive, the configured
   * number of new workers runs, and {@code GET /healthz} answers 200.
   */
  public void awaitWorkersReplaced(Duration timeout) {
    List<ProcessHandle> oldWorkers = workersBeforeHup;
    Set<Long> old = oldWorkers.stream().map(ProcessHandle::pid).collect(Collectors.toSet());
    await("gunicorn " + release + " workers " + old + " replaced")
        .atMost(timeout)
        .pollInterval(Duration.ofMillis(50))
        .ignoreExceptions()
        .until(() -> {
          Set<Long> now = workerPids();
          return oldWorkers.stream().allMatch(h -> !h.isAlive() || isGone(h.pid()))
              && Collections.disjoint(now, old)
              && now.size() == workers
              && healthy();
        });
  }

  /** SIGKILL to the master and all workers at once (a crash); waits until all are gone. */
  public void kill9() {
    requireRunning();
    killGroup();
  }

  /** SIGTERM to the master (graceful shutdown) and waits for it; SIGKILL if it takes > 20 s. */
  public void stop() {
    if (process == null) {
      return;
    }
    if (process.isAlive()) {
      List<ProcessHandle> workerHandles = process.toHandle().children().toList();
      process.destroy();
      try {
        if (!process.waitFor(20, TimeUnit.SECONDS)) {
          appendLog("==== did not stop within 20 s after SIGTERM, killing\n");
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      if (!process.isAlive()) {
        await("gunicorn " + release + " workers gone").atMost(Duration.ofSeconds(20))
            .pollInterval(Duration.ofMillis(20))
            .until(() -> workerHandles.stream().allMatch(h -> !h.isAlive() || isGone(h.pid())));
      }
    }
    killGroup();
  }

  /** Kills whatever is left (SIGKILL to the process group). */
  @Override
  public void close() {
    killGroup();
  }

  // --- accessors --------------------------------------------------------------------------------

  public String release() {
    return release;
  }

  /** The endpoint as written in the proxy config: {@code unix:/path} or {@code 127.0.0.1:port}. */
  public String endpoint() {
    return socketPath != null ? "unix:" + socketPath : "127.0.0.1:" + port;
  }

  /** {@link UnixDomainSocketAddress} or {@link InetSocketAddress}. */
  public SocketAddress address() {
    return socketPath != null ? UnixDomainSocketAddress.of(socketPath)
        : new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
  }

  /** The TCP port (0 for a Unix socket, or before the first start). */
  public int port() {
    return port;
  }

  /** The Unix socket path, or null for TCP. */
  public Path socketPath() {
    return socketPath;
  }

  /** A new client connected (lazily) straight to this gunicorn. */
  public RawHttpClient client() {
    return new RawHttpClient(address());
  }

  /** PID of the gunicorn master. */
  public long pid() {
    requireRunning();
    return process.pid();
  }

  /** PIDs of the live worker processes (the master's children). */
  public Set<Long> workerPids() {
    if (process == null) {
      return Set.of();
    }
    return process.toHandle().children()
        .map(ProcessHandle::pid)
        .filter(pid -> !isGone(pid))
        .collect(Collectors.toUnmodifiableSet());
  }

  public boolean isRunning() {
    return process != null && process.isAlive();
  }

  /** gunicorn's stdout and stderr (appended across restarts). */
  public Path logFile() {
    return logFile;
  }

  @Override
  public String toString() {
    return "Gunicorn[" + release + " " + endpoint() + (isRunning() ? " pid " + process.pid() : "")
        + "]";
  }

  /**
   * Checks a body of the test app's {@code /download?bytes=size}: {@code size} bytes, byte {@code i}
   * being {@code i % 251}, so that a byte lost, doubled or moved is found where it happened.
   */
  public static void assertDownload(byte[] body, int size) {
    if (body.length != size) {
      throw new AssertionError("a download of " + size + " bytes came with " + body.length);
    }
    for (int i = 0; i < size; i++) {
      if (body[i] != (byte) (i % 251)) {
        throw new AssertionError("byte " + i + " is " + body[i]);
      }
    }
  }

  /**
   * The directory holding the Django project ({@code testapp/}): {@code -Dcanaryproxy.testapp.dir}
   * or {@code proxy-core/src/test/django} found by walking up from the working directory, so it
   * works from any module of the build.
   */
  public static Path appDir() {
    String configured = System.getProperty(APP_DIR_PROPERTY);
    if (configured != null && !configured.isBlank()) {
      Path dir = Path.of(configured).toAbsolutePath();
      if (!Files.isRegularFile(dir.resolve("testapp/wsgi.py"))) {
        throw new IllegalStateException(APP_DIR_PROPERTY + "=" + dir + " holds no testapp/wsgi.py");
      }
      return dir;
    }
    Path start = Path.of(System.getProperty("user.dir")).toAbsolutePath();
    for (Path dir = start; dir != null; dir = dir.getParent()) {
      for (Path candidate : List.of(dir.resolve("proxy-core/src/test/django"),
          dir.resolve("src/test/django"))) {
        if (Files.isRegularFile(candidate.resolve("testapp/wsgi.py"))) {
          return candidate;
        }
      }
    }
    throw new IllegalStateException("cannot find proxy-core/src/test/django/testapp above " + start
        + "; set -D" + APP_DIR_PROPERTY + "=<dir holding testapp/>");
  }

  // --- internals --------------------------------------------------------------------------------

  private void requireRunning() {
    if (!isRunning()) {
      throw new IllegalStateException("gunicorn " + release + " is not running");
    }
  }

  /** SIGKILL to the whole process group (gunicorn runs under setsid, so pgid == master pid). */
  private synchronized void killGroup() {
    Process p = process;
    if (p == null) {
      return;
    }
    // Handles remember each process's start time, so they never hit a recycled PID.
    List<ProcessHandle> all = new ArrayList<>();
    all.add(p.toHandle());
    p.toHandle().descendants().forEach(all::add);
    if (p.isAlive()) {
      signal("KILL", "-" + p.pid());
    }
    // Belt and braces for anything that left the group.
    all.forEach(ProcessHandle::destroyForcibly);
    try {
      p.waitFor(10, TimeUnit.SECONDS);
      await("gunicorn " + release + " processes " + all + " gone").atMost(Duration.ofSeconds(10))
          .pollInterval(Duration.ofMillis(10))
          .until(() -> all.stream().allMatch(h -> !h.isAlive() || isGone(h.pid())));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      RUNNING.remove(this);
    }
  }

  private static void signal(String signal, String target) {
    try {
      Process kill = new ProcessBuilder("/bin/sh", "-c", "kill -s \"$1\" -- \"$2\"", "sh", signal,
          target).redirectErrorStream(true).start();
      String out = new String(kill.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (kill.waitFor() != 0 && !out.contains("No such process")) {
        throw new IllegalStateException("kill -s " + signal + " " + target + " failed: " + out);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /**
   * Gone: no such process, or a zombie waiting to be reaped whose threads have all exited. (A
   * thread-group leader shows state Z while its other threads are still exiting and holding the
   * process's file descriptors, listening socket included.)
   */
  private static boolean isGone(long pid) {
    if (!ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
      return true;
    }
    try {
      String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
      int afterComm = stat.lastIndexOf(')');
      boolean zombie = afterComm > 0 && stat.length() > afterComm + 2
          && (stat.charAt(afterComm + 2) == 'Z' || stat.charAt(afterComm + 2) == 'X');
      if (!zombie) {
        return false;
      }
      try (Stream<Path> tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
        return tasks.count() <= 1;
      }
    } catch (IOException e) {
      return true; // reaped meanwhile
    }
  }

  private static Path logDirectory() {
    Path dir = Path.of(System.getProperty("user.dir"), "target", "gunicorn-logs");
    try {
      Files.createDirectories(dir);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return dir;
  }

  private long logSize() {
    File f = logFile.toFile();
    return f.exists() ? f.length() : 0;
  }

  private String logSince(long offset) {
    try {
      byte[] all = Files.readAllBytes(logFile);
      int from = (int) Math.min(offset, all.length);
      int start = Math.max(from, all.length - 8_000);
      return new String(all, start, all.length - start, StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "(cannot read " + logFile + ": " + e + ")";
    }
  }

  private void appendLog(String line) {
    try {
      Files.writeString(logFile, line, StandardCharsets.UTF_8,
          java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static final class PortInUseException extends RuntimeException {
    PortInUseException(String message) {
      super(message);
    }
  }
}
