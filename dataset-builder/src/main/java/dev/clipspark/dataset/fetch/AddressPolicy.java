package dev.clipspark.dataset.fetch;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.List;
import java.util.Optional;

/**
 * Which IP addresses a fetch may connect to when {@code fetch.allow-private} is off: the guard against
 * server-side request forgery (a URL in a crawled table pointing at a cluster's own services).
 *
 * <p>Refused are the addresses that are not globally reachable: loopback ({@code 127.0.0.0/8}, {@code ::1}),
 * unspecified / "this network" ({@code 0.0.0.0/8}, {@code ::}), private RFC 1918 ({@code 10/8},
 * {@code 172.16/12}, {@code 192.168/16}), carrier-grade NAT ({@code 100.64.0.0/10}), link-local
 * ({@code 169.254/16}, {@code fe80::/10}), IETF protocol assignments ({@code 192.0.0.0/24}), benchmarking
 * ({@code 198.18.0.0/15}), documentation ({@code 192.0.2.0/24}, {@code 198.51.100.0/24},
 * {@code 203.0.113.0/24}, {@code 2001:db8::/32}), multicast ({@code 224.0.0.0/4}, {@code ff00::/8}),
 * reserved and broadcast ({@code 240.0.0.0/4}), IPv6 unique-local ({@code fc00::/7}) and deprecated
 * site-local ({@code fec0::/10}); and IPv6 forms that carry an IPv4 address (IPv4-mapped
 * {@code ::ffff:0:0/96}, IPv4-compatible {@code ::/96}, NAT64 {@code 64:ff9b::/96}, 6to4 {@code 2002::/16})
 * when the IPv4 address they carry is refused.
 *
 * <p>The rule looks only at the address; it never resolves names, so it can be checked on literals.
 */
public final class AddressPolicy {

  private record Range(byte[] prefix, int bits, String label) {
    boolean contains(byte[] address) {
      if (address.length != prefix.length) {
        return false;
      }
      int full = bits / 8;
      for (int i = 0; i < full; i++) {
        if (address[i] != prefix[i]) {
          return false;
        }
      }
      int rest = bits % 8;
      if (rest == 0) {
        return true;
      }
      int mask = (0xff << (8 - rest)) & 0xff;
      return (address[full] & mask) == (prefix[full] & mask);
    }
  }

  private static final List<Range> V4 = List.of(
      range("0.0.0.0", 8, "unspecified (\"this network\")"),
      range("10.0.0.0", 8, "private (RFC 1918)"),
      range("100.64.0.0", 10, "carrier-grade NAT (RFC 6598)"),
      range("127.0.0.0", 8, "loopback"),
      range("169.254.0.0", 16, "link-local"),
      range("172.16.0.0", 12, "private (RFC 1918)"),
      range("192.0.0.0", 24, "IETF protocol assignment"),
      range("192.0.2.0", 24, "documentation"),
      range("192.168.0.0", 16, "private (RFC 1918)"),
      range("198.18.0.0", 15, "benchmarking"),
      range("198.51.100.0", 24, "documentation"),
      range("203.0.113.0", 24, "documentation"),
      range("224.0.0.0", 4, "multicast"),
      range("240.0.0.0", 4, "reserved or broadcast"));

  private static final List<Range> V6 = List.of(
      range("::", 128, "unspecified"),
      range("::1", 128, "loopback"),
      range("fe80::", 10, "link-local"),
      range("fec0::", 10, "site-local"),
      range("fc00::", 7, "unique-local"),
      range("ff00::", 8, "multicast"),
      range("2001:db8::", 32, "documentation"));

  private AddressPolicy() {}

  /**
   * Why {@code address} is refused, e.g. {@code loopback} or {@code private (RFC 1918)}; empty when it is
   * globally reachable and may be fetched.
   */
  public static Optional<String> restriction(InetAddress address) {
    byte[] b = address.getAddress();
    if (address instanceof Inet4Address) {
      return match(V4, b);
    }
    if (!(address instanceof Inet6Address)) {
      return Optional.of("of an unknown address family");
    }
    Optional<String> own = match(V6, b);
    if (own.isPresent()) {
      return own;
    }
    byte[] embedded = embeddedIpv4(b);
    if (embedded != null) {
      return match(V4, embedded).map(why -> why + ", carried in an IPv6 address");
    }
    return Optional.empty();
  }

  /** Whether {@code address} is refused when {@code fetch.allow-private} is off. */
  public static boolean isRestricted(InetAddress address) {
    return restriction(address).isPresent();
  }

  /** The IPv4 address carried in an IPv4-mapped, IPv4-compatible, NAT64 or 6to4 address, else null. */
  private static byte[] embeddedIpv4(byte[] b) {
    boolean first10Zero = true;
    for (int i = 0; i < 10; i++) {
      first10Zero &= b[i] == 0;
    }
    if (first10Zero && ((b[10] == (byte) 0xff && b[11] == (byte) 0xff) || (b[10] == 0 && b[11] == 0))) {
      return new byte[] {b[12], b[13], b[14], b[15]}; // ::ffff:a.b.c.d (mapped) or ::a.b.c.d (compatible)
    }
    boolean nat64 = b[0] == 0 && b[1] == 0x64 && b[2] == (byte) 0xff && b[3] == (byte) 0x9b;
    for (int i = 4; nat64 && i < 12; i++) {
      nat64 = b[i] == 0;
    }
    if (nat64) {
      return new byte[] {b[12], b[13], b[14], b[15]}; // 64:ff9b::a.b.c.d
    }
    if (b[0] == 0x20 && b[1] == 0x02) {
      return new byte[] {b[2], b[3], b[4], b[5]}; // 2002:aabb:ccdd::/48
    }
    return null;
  }

  private static Optional<String> match(List<Range> ranges, byte[] b) {
    for (Range r : ranges) {
      if (r.contains(b)) {
        return Optional.of(r.label());
      }
    }
    return Optional.empty();
  }

  private static Range range(String literal, int bits, String label) {
    try {
      // Literals only: InetAddress parses them without a name lookup.
      return new Range(InetAddress.getByName(literal).getAddress(), bits, label);
    } catch (UnknownHostException e) {
      throw new IllegalStateException("Cannot parse the address literal " + literal, e);
    }
  }
}
