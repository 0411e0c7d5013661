package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.testing.Gunicorn;
import io.canaryproxy.testing.RawExchange;
import io.canaryproxy.testing.TestConfigs;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What a Django view under gunicorn sees of the request target the client sent through the proxy. */
class RequestTargetTest {

    /**
     * Some clients put raw UTF-8 in a link instead of escaping it. nginx passes it on and gunicorn takes it, so
     * the proxy passes it on byte for byte too: the view sees what it sees without a proxy in front.
     */
    @Test
    void rawUtf8InATargetReachesTheViewAsWithoutTheProxy(@TempDir Path dir) throws Exception {
        // "café" as UTF-8 bytes, each written as one byte (ISO-8859-1).
        String request = "GET /headers?q=caf\u00c3\u00a9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        try (Gunicorn blue = Gunicorn.unixSocket("blue", dir).start();
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(blue.endpoint(), ""))) {
            RawExchange.Result through = RawExchange.send(proxy.listenAddress(), request);
            String direct = blue.client().sendRaw(request.getBytes(StandardCharsets.ISO_8859_1)).bodyText();

            assertThat(through.status()).as(through.text()).isEqualTo(200);
            assertThat(pathIn(through.text())).isEqualTo(pathIn(direct)).startsWith("/headers?q=caf%C3");
        }
    }

    /** The "path" the headers view reports: Django's get_full_path(). */
    private static String pathIn(String json) {
        Matcher m = Pattern.compile("\"path\": \"([^\"]*)\"").matcher(json);
        assertThat(m.find()).as(json).isTrue();
        return m.group(1);
    }
}
