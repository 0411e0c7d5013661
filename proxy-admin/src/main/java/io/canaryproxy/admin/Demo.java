package io.canaryproxy.admin;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigUtil;
import io.canaryproxy.config.ConfigLoader;
import io.canaryproxy.config.HostPort;
import io.canaryproxy.config.ProxyConfig;
import java.net.Inet6Address;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Demo mode: the configuration that puts the {@link DemoBackends} behind the proxy, and what to try with it. */
final class Demo {

    static final HostPort DEFAULT_LISTEN = new HostPort("127.0.0.1", 8080);
    static final HostPort DEFAULT_ADMIN = new HostPort("127.0.0.1", 9901);
    static final String[] RELEASES = {"blue", "green"};

    private Demo() {
    }

    /**
     * The demo's configuration: {@code backends} as releases with one endpoint each, the first one stable, no
     * admin token, no state file; every other key keeps its default from {@code reference.conf}.
     */
    static ProxyConfig config(HostPort listen, HostPort admin, Map<String, InetSocketAddress> backends) {
        return ConfigLoader.fromConfig(hocon(listen, admin, backends));
    }

    static Config hocon(HostPort listen, HostPort admin, Map<String, InetSocketAddress> backends) {
        StringBuilder releases = new StringBuilder();
        backends.forEach((name, address) -> releases.append("    ").append(ConfigUtil.quoteString(name))
                .append(" { endpoints = [").append(ConfigUtil.quoteString(hostPort(address))).append("] }\n"));
        String stable = backends.keySet().iterator().next();
        String text = "proxy {\n"
                + "  listen = " + ConfigUtil.quoteString(listen.toString()) + "\n"
                + "  admin { listen = " + ConfigUtil.quoteString(admin.toString()) + ", token = \"\" }\n"
                + "  state-file = \"\"\n"
                + "  releases {\n" + releases + "  }\n"
                + "  routing { stable = " + ConfigUtil.quoteString(stable) + ", served-by-header = on }\n"
                + "}\n";
        return ConfigFactory.parseString(text);
    }

    /** The lines printed once the demo runs: where things are and the commands to try. */
    static List<String> hints(InetSocketAddress proxy, InetSocketAddress admin, Map<String, InetSocketAddress> backends) {
        String proxyUrl = "http://" + urlHost(proxy);
        String adminUrl = "http://" + urlHost(admin);
        List<String> names = new ArrayList<>(backends.keySet());
        String other = names.size() > 1 ? names.get(1) : names.get(0);
        List<String> lines = new ArrayList<>();
        lines.add("");
        lines.add("canary-proxy demo: " + proxyUrl + "/ in front of two built-in backends:");
        backends.forEach((name, address) -> lines.add("  " + name + " at " + hostPort(address)
                + (name.equals(names.get(0)) ? " (stable)" : "")));
        lines.add("Try:");
        lines.add("  curl -i " + proxyUrl + "/");
        lines.add("  curl -X POST '" + adminUrl + "/canary?release=" + other + "&weight=50'");
        lines.add("  curl -i -H 'X-Canary: always' " + proxyUrl + "/");
        lines.add("  curl -X POST '" + adminUrl + "/switch?release=" + other + "'");
        lines.add("  curl -i " + proxyUrl + "/");
        lines.add("  curl '" + adminUrl + "/status'");
        lines.add("  curl '" + adminUrl + "/drain?release=" + names.get(0) + "&timeout=10s'");
        lines.add("Press Ctrl-C to stop.");
        lines.add("");
        return lines;
    }

    /** {@code 127.0.0.1:8080}, {@code [::1]:8080}; a wildcard address becomes the loopback one, for a URL. */
    static String urlHost(InetSocketAddress address) {
        if (address.getAddress() == null || address.getAddress().isAnyLocalAddress()) {
            return (address.getAddress() instanceof Inet6Address ? "[::1]" : "127.0.0.1") + ":" + address.getPort();
        }
        return hostPort(address);
    }

    /** {@code 127.0.0.1:8001}, {@code [::1]:8001}. */
    static String hostPort(InetSocketAddress address) {
        String host = address.getAddress() == null ? address.getHostString() : address.getAddress().getHostAddress();
        if (host.indexOf(':') >= 0) {
            int scope = host.indexOf('%');
            return "[" + (scope >= 0 ? host.substring(0, scope) : host) + "]:" + address.getPort();
        }
        return host + ":" + address.getPort();
    }
}
