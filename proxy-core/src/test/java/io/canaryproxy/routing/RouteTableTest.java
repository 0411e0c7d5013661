package io.canaryproxy.routing;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import org.junit.jupiter.api.Test;

class RouteTableTest {

    /** Log lines show the table as an operator set it, the weight as written in a call: 10, 12.5, 0.01. */
    @Test
    void describesTheReleasesAndTheWeightAsAPercentage() {
        RouteTable stable = new RouteTable("blue", null, 0, 1, Instant.now());
        assertThat(stable.describe()).isEqualTo("blue");
        assertThat(stable.withCanary("green", 1000).describe()).isEqualTo("blue + canary green at 10%");
        assertThat(stable.withCanary("green", 1250).describe()).isEqualTo("blue + canary green at 12.5%");
        assertThat(stable.withCanary("green", 1).describe()).isEqualTo("blue + canary green at 0.01%");
        assertThat(stable.withCanary("green", 0).describe()).isEqualTo("blue + canary green at 0%");
    }
}
