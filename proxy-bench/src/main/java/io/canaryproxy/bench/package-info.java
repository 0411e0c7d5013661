/** JMH benchmarks of the proxy's hot path. */
package io.canaryproxy.bench;
