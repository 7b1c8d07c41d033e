package dev.clipspark.dataset.fetch;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/** Literals only: {@link InetAddress#getByName} parses them without any name lookup. */
class AddressPolicyTest {

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "10.0.0.1        | private (RFC 1918)",
      "172.16.5.4      | private (RFC 1918)",
      "172.31.255.255  | private (RFC 1918)",
      "192.168.1.1     | private (RFC 1918)",
      "169.254.1.1     | link-local",
      "127.0.0.1       | loopback",
      "127.255.0.9     | loopback",
      "0.0.0.0         | unspecified (\"this network\")",
      "100.64.0.1      | carrier-grade NAT (RFC 6598)",
      "100.127.255.254 | carrier-grade NAT (RFC 6598)",
      "224.0.0.251     | multicast",
      "255.255.255.255 | reserved or broadcast",
      "::1             | loopback",
      "::              | unspecified",
      "fe80::1         | link-local",
      "fd12::1         | unique-local",
      "fc00::5         | unique-local",
      "fec0::1         | site-local",
      "ff02::1         | multicast",
      "::ffff:127.0.0.1 | loopback",
      "::ffff:10.1.2.3 | private (RFC 1918)",
      "64:ff9b::a9fe:a9fe | 'link-local, carried in an IPv6 address'",
      "2002:c0a8:0101:: | 'private (RFC 1918), carried in an IPv6 address'",
      "::7f00:1        | 'loopback, carried in an IPv6 address'",
  })
  void refusesAddressesThatAreNotPublic(String literal, String why) throws UnknownHostException {
    InetAddress address = InetAddress.getByName(literal);

    assertThat(AddressPolicy.restriction(address)).contains(why);
    assertThat(AddressPolicy.isRestricted(address)).isTrue();
  }

  @ParameterizedTest
  @ValueSource(strings = {"8.8.8.8", "1.1.1.1", "93.184.216.34", "172.32.0.1", "172.15.255.255", "100.63.255.255",
      "100.128.0.1", "192.169.0.1", "11.0.0.1", "2001:4860::8888", "2606:4700::1111", "64:ff9b::808:808",
      "2002:0808:0808::", "::ffff:8.8.8.8"})
  void allowsPublicAddresses(String literal) throws UnknownHostException {
    InetAddress address = InetAddress.getByName(literal);

    assertThat(AddressPolicy.restriction(address)).isEmpty();
    assertThat(AddressPolicy.isRestricted(address)).isFalse();
  }

  @Test
  void refusesAnIpv4MappedAddressKeptInItsIpv6Form() throws UnknownHostException {
    // InetAddress.getByName turns ::ffff:a.b.c.d into an Inet4Address; Inet6Address.getByAddress keeps the form.
    byte[] mapped = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (byte) 0xff, (byte) 0xff, (byte) 192, (byte) 168, 0, 1};
    InetAddress address = Inet6Address.getByAddress(null, mapped, -1);

    assertThat(address).isInstanceOf(Inet6Address.class);
    assertThat(AddressPolicy.restriction(address)).contains("private (RFC 1918), carried in an IPv6 address");
  }
}
