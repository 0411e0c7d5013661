package io.canaryproxy.testing;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalLong;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.awaitility.core.ConditionTimeoutException;

/**
 * Concurrent keep-alive load against the proxy, counting every failure.
 *
 * <p>GET clients loop {@code GET /}; POST clients loop {@code POST /echo} with a fresh random body
 * (64 KiB by default) and check that the echo is byte-identical; chunked POST clients do the same
 * with a 200 KB body sent chunked (larger than the proxy collects in memory). Each client is one thread with
 * one {@link RawHttpClient} (one connection, no retries). A client reconnects by itself only
 * after a complete response that closed the connection ({@code Connection: close}); after an
 * I/O error it counts a failure and continues on a new connection. Failures are: any status
 * other than 200, any I/O error or timeout, a mismatched echo.
 *
 * <p>Per release (the {@code X-Release} response header) it counts answers and remembers, as
 * {@link System#nanoTime()} values, when the last answer from it completed and when the most
 * recent request it answered was sent, so a test can assert "no request sent after the switch was
 * answered by blue": {@code lastRequestAnsweredBy("blue") < switchedAt}.
 *
 * <pre>{@code
 * try (LoadGenerator load = LoadGenerator.start(proxyAddress, 8, 2)) {
 *   load.awaitSuccesses(500, Duration.ofSeconds(10));
 *   ... switch ...
 *   load.awaitMoreSuccesses(500, Duration.ofSeconds(10));
 *   LoadGenerator.Stats stats = load.stop();
 *   assertThat(stats.failures()).as("%s", stats.failureSamples()).isZero();
 * }
 * }</pre>
 */
public final class LoadGenerator implements AutoCloseable {

  /** Release name counted for a 200 response without an {@code X-Release} header. */
  public static final String NO_RELEASE = "(none)";

  private static final int MAX_FAILURE_SAMPLES = 20;

  /**
   * A snapshot of the counters. {@code successes = getSuccesses + postSuccesses}; {@code
   * failureSamples} holds the first failures (at most 20), each with time since start and client.
   */
  public record Stats(long successes, long failures, List<String> failureSamples,
      Map<String, Long> countsByRelease, long getSuccesses, long postSuccesses) {

    @Override
    public String toString() {
      return "successes=" + successes + " (GET " + getSuccesses + ", POST " + postSuccesses
          + "), failures=" + failures + ", byRelease=" + countsByRelease
          + (failureSamples.isEmpty() ? "" : ", first failures:\n  "
              + String.join("\n  ", failureSamples));
    }
  }

  /** Options; {@link #start()} launches the clients. */
  public static final class Builder {
    private final InetSocketAddress target;
    private int getClients = 4;
    private int postClients = 1;
    private int chunkedPostClients;
    private String getPath = "/";
    private String postPath = "/echo";
    private int postBodySize = 64 * 1024;
    private boolean keepCookies;
    private boolean manyUsers;
    private Duration readTimeout = Duration.ofSeconds(10);
    private final Map<String, String> headers = new LinkedHashMap<>();

    private Builder(InetSocketAddress target) {
      this.target = target;
    }

    public Builder getClients(int n) {
      this.getClients = n;
      return this;
    }

    public Builder postClients(int n) {
      this.postClients = n;
      return this;
    }

    /** Clients that POST a 200 KB body with {@code Transfer-Encoding: chunked} (default none). */
    public Builder chunkedPostClients(int n) {
      this.chunkedPostClients = n;
      return this;
    }

    /** Path the GET clients request (default {@code /}). */
    public Builder getPath(String path) {
      this.getPath = path;
      return this;
    }

    /** Path the POST clients send to; it must echo the body (default {@code /echo}). */
    public Builder postPath(String path) {
      this.postPath = path;
      return this;
    }

    public Builder postBodySize(int bytes) {
      this.postBodySize = bytes;
      return this;
    }

    /** A header every request carries (e.g. {@code X-Canary: always}). */
    public Builder header(String name, String value) {
      headers.put(name, value);
      return this;
    }

    /** Each client keeps the cookies it is given and sends them back, like a browser. */
    public Builder keepCookies(boolean keep) {
      this.keepCookies = keep;
      return this;
    }

    /**
     * Every request comes from a different user: it carries a {@code cp_bucket} cookie with a random bucket, so
     * that a canary at any weight gets its share of the requests although all clients share one address.
     */
    public Builder manyUsers(boolean value) {
      this.manyUsers = value;
      return this;
    }

    /** Longest wait for a response byte before the request counts as failed (default 10 s). */
    public Builder readTimeout(Duration timeout) {
      this.readTimeout = timeout;
      return this;
    }

    public LoadGenerator start() {
      return new LoadGenerator(this);
    }
  }

  private final Builder options;
  private final long startedAt = System.nanoTime();
  private volatile boolean running = true;
  private final List<Client> clients = new ArrayList<>();

  private final LongAdder getSuccesses = new LongAdder();
  private final LongAdder postSuccesses = new LongAdder();
  private final AtomicLong successes = new AtomicLong();
  private final AtomicLong failures = new AtomicLong();
  private final List<String> failureSamples = new ArrayList<>();
  private final Map<String, ReleaseCounters> releases = new ConcurrentHashMap<>();
  private Stats finalStats;

  private LoadGenerator(Builder options) {
    this.options = options;
    for (int i = 0; i < options.getClients; i++) {
      clients.add(new Client("load-get-" + i, false, false));
    }
    for (int i = 0; i < options.postClients; i++) {
      clients.add(new Client("load-post-" + i, true, false));
    }
    for (int i = 0; i < options.chunkedPostClients; i++) {
      clients.add(new Client("load-post-chunked-" + i, true, true));
    }
    clients.forEach(c -> c.thread.start());
  }

  /** {@code getClients} GET / loops and {@code postClients} POST /echo loops against {@code target}. */
  public static LoadGenerator start(InetSocketAddress target, int getClients, int postClients) {
    return builder(target).getClients(getClients).postClients(postClients).start();
  }

  public static Builder builder(InetSocketAddress target) {
    return new Builder(target);
  }

  /** A consistent-enough snapshot of the counters (final after {@link #stop()}). */
  public Stats stats() {
    synchronized (this) {
      if (finalStats != null) {
        return finalStats;
      }
    }
    Map<String, Long> byRelease = new TreeMap<>();
    releases.forEach((name, c) -> byRelease.put(name, c.count.sum()));
    List<String> samples;
    synchronized (failureSamples) {
      samples = List.copyOf(failureSamples);
    }
    return new Stats(successes.get(), failures.get(), samples, Map.copyOf(byRelease),
        getSuccesses.sum(), postSuccesses.sum());
  }

  public long successes() {
    return successes.get();
  }

  public long failures() {
    return failures.get();
  }

  /** {@link System#nanoTime()} when the last successful response from {@code release} completed. */
  public OptionalLong lastResponseFrom(String release) {
    ReleaseCounters c = releases.get(release);
    return c == null ? OptionalLong.empty() : OptionalLong.of(c.lastDone.get());
  }

  /**
   * {@link System#nanoTime()} at which the most recently <em>sent</em> request that {@code
   * release} answered successfully was sent. Requests in flight on the old release when a switch
   * happens may finish later, but none sent after the switch may be answered by it.
   */
  public OptionalLong lastRequestAnsweredBy(String release) {
    ReleaseCounters c = releases.get(release);
    return c == null ? OptionalLong.empty() : OptionalLong.of(c.lastSent.get());
  }

  /** {@link System#nanoTime()} at which the first successful request answered by it was sent. */
  public OptionalLong firstRequestAnsweredBy(String release) {
    ReleaseCounters c = releases.get(release);
    return c == null ? OptionalLong.empty() : OptionalLong.of(c.firstSent.get());
  }

  /** Waits until {@code total} successes in all were counted; fails with the stats otherwise. */
  public void awaitSuccesses(long total, Duration timeout) {
    try {
      await("load generator reaching " + total + " successes")
          .atMost(timeout)
          .pollInterval(Duration.ofMillis(5))
          .until(() -> successes.get() >= total);
    } catch (ConditionTimeoutException e) {
      throw new AssertionError("fewer than " + total + " successes within " + timeout + ": "
          + stats(), e);
    }
  }

  /** Waits for {@code n} more successes than counted now. */
  public void awaitMoreSuccesses(long n, Duration timeout) {
    awaitSuccesses(successes.get() + n, timeout);
  }

  /**
   * Stops all clients and returns the final stats. Clients finish the request they are in; one
   * still not done after the read timeout plus 5 s counts as a failure and is cut off.
   */
  public Stats stop() {
    synchronized (this) {
      if (finalStats != null) {
        return finalStats;
      }
      running = false;
    }
    long deadline = System.nanoTime() + options.readTimeout.plusSeconds(5).toNanos();
    for (Client client : clients) {
      long left = Math.max(1, (deadline - System.nanoTime()) / 1_000_000L);
      try {
        client.thread.join(left);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    for (Client client : clients) {
      if (client.thread.isAlive()) {
        client.abandoned = true;
        failure(client, "request still unanswered when the load generator stopped");
        client.http.close();
        try {
          client.thread.join(2_000);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    }
    Stats stats = stats();
    synchronized (this) {
      finalStats = stats;
    }
    return stats;
  }

  @Override
  public void close() {
    stop();
  }

  // ---------------------------------------------------------------------------------------------

  private void success(Client client, String release, long sent, long done) {
    (client.post ? postSuccesses : getSuccesses).increment();
    ReleaseCounters c = releases.computeIfAbsent(release, r -> new ReleaseCounters());
    c.count.increment();
    c.lastSent.accumulateAndGet(sent, Math::max);
    c.lastDone.accumulateAndGet(done, Math::max);
    c.firstSent.accumulateAndGet(sent, Math::min);
    successes.incrementAndGet();
  }

  private void failure(Client client, String description) {
    failures.incrementAndGet();
    synchronized (failureSamples) {
      if (failureSamples.size() < MAX_FAILURE_SAMPLES) {
        long ms = (System.nanoTime() - startedAt) / 1_000_000L;
        failureSamples.add("+" + ms + "ms " + client.thread.getName() + ": " + description);
      }
    }
  }

  private static final class ReleaseCounters {
    final LongAdder count = new LongAdder();
    final AtomicLong lastSent = new AtomicLong(Long.MIN_VALUE);
    final AtomicLong lastDone = new AtomicLong(Long.MIN_VALUE);
    final AtomicLong firstSent = new AtomicLong(Long.MAX_VALUE);
  }

  private final class Client implements Runnable {
    final boolean post;
    final boolean chunked;
    final Thread thread;
    final RawHttpClient http;
    final Map<String, String> cookies = new LinkedHashMap<>();
    volatile boolean abandoned;

    Client(String name, boolean post, boolean chunked) {
      this.post = post;
      this.chunked = chunked;
      this.http = new RawHttpClient(options.target).readTimeout(options.readTimeout);
      this.thread = new Thread(this, name);
      thread.setDaemon(true);
    }

    @Override
    public void run() {
      try {
        while (running) {
          oneRequest();
        }
      } finally {
        http.close();
      }
    }

    private void oneRequest() {
      Map<String, String> headers = new LinkedHashMap<>(options.headers);
      if (!cookies.isEmpty()) {
        StringBuilder cookie = new StringBuilder();
        cookies.forEach((k, v) -> cookie.append(cookie.length() == 0 ? "" : "; ")
            .append(k).append('=').append(v));
        headers.put("Cookie", cookie.toString());
      }
      if (options.manyUsers) {
        headers.put("Cookie", "cp_bucket=" + ThreadLocalRandom.current().nextInt(10_000));
      }
      byte[] body = null;
      if (post) {
        body = new byte[chunked ? 200_000 : options.postBodySize];
        ThreadLocalRandom.current().nextBytes(body);
        headers.putIfAbsent("Content-Type", "application/octet-stream");
        if (chunked) {
          headers.put("Transfer-Encoding", "chunked");
        }
      }
      String method = post ? "POST" : "GET";
      String path = post ? options.postPath : options.getPath;
      long sent = System.nanoTime();
      RawHttpClient.Response response;
      try {
        response = http.send(method, path, headers, body);
      } catch (IOException | RuntimeException e) {
        if (!abandoned) {
          failure(this, method + " " + path + " -> " + e);
        }
        return;
      }
      long done = System.nanoTime();
      if (options.keepCookies) {
        keepCookies(response);
      }
      String release = response.header("X-Release");
      if (response.status() != 200) {
        failure(this, method + " " + path + " -> " + response.status() + " from "
            + (release == null ? "the proxy" : release) + ": " + abbreviate(response.bodyText()));
      } else if (post && !Arrays.equals(body, response.body())) {
        failure(this, method + " " + path + " -> 200 from " + release + " but the echo differs ("
            + body.length + " bytes sent, " + response.body().length + " received)");
      } else {
        success(this, release == null ? NO_RELEASE : release, sent, done);
      }
    }

    private void keepCookies(RawHttpClient.Response response) {
      for (String setCookie : response.headerValues("Set-Cookie")) {
        String pair = setCookie.split(";", 2)[0];
        int eq = pair.indexOf('=');
        if (eq <= 0) {
          continue;
        }
        String name = pair.substring(0, eq).trim();
        String value = pair.substring(eq + 1).trim();
        boolean expired = setCookie.toLowerCase(Locale.ROOT).replace(" ", "").contains("max-age=0");
        if (value.isEmpty() || expired) {
          cookies.remove(name);
        } else {
          cookies.put(name, value);
        }
      }
    }
  }

  private static String abbreviate(String s) {
    String oneLine = s.replace('\n', ' ').replace('\r', ' ');
    return oneLine.length() > 120 ? oneLine.substring(0, 120) + "..." : oneLine;
  }
}
