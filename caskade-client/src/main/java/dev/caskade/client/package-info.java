/** A Java client for a Caskade server's HTTP API v1 and its Server-Sent Events watch stream. */
package dev.caskade.client;
