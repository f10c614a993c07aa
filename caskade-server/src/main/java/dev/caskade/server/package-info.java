/** The network front of Caskade: the Redis protocol (RESP2/RESP3) and HTTP/JSON with live updates. */
package dev.caskade.server;
