package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.testing.Gunicorn;
import io.canaryproxy.testing.RawExchange;
import io.canaryproxy.testing.TestConfigs;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A chunked upload to a Django view under gunicorn, through the proxy. gunicorn gives a chunked body no
 * CONTENT_LENGTH and Django reads that many bytes, so sent on chunked the form would arrive empty.
 */
class ChunkedUploadTest {

    @Test
    void aChunkedFormReachesTheDjangoViewWhole(@TempDir Path dir) throws Exception {
        try (Gunicorn blue = Gunicorn.unixSocket("blue", dir).start();
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(blue.endpoint(), ""))) {
            RawExchange.Result r = RawExchange.send(proxy.listenAddress(), "POST /form HTTP/1.1\r\nHost: x\r\n"
                    + "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n"
                    + "Connection: close\r\n\r\n9\r\nuser=bob&\r\nb\r\namount=1000\r\n0\r\n\r\n");

            assertThat(r.status()).as(r.text()).isEqualTo(200);
            assertThat(r.text()).endsWith("\r\n\r\n20 amount=1000,user=bob");
        }
    }
}
