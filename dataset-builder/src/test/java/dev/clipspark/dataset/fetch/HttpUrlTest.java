package dev.clipspark.dataset.fetch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class HttpUrlTest {

  @Test
  void takesAUrlApart() throws Exception {
    HttpUrl u = HttpUrl.parse("HTTPS://User:pw@Images.Example.COM:8443/a/b.jpg?w=1&h=2#frag");

    assertThat(u.scheme()).isEqualTo("https");
    assertThat(u.host()).isEqualTo("images.example.com");
    assertThat(u.port()).isEqualTo(8443);
    assertThat(u.https()).isTrue();
    assertThat(u.ipLiteral()).isFalse();
    assertThat(u.requestTarget()).isEqualTo("/a/b.jpg?w=1&h=2");
    assertThat(u.hostHeader()).isEqualTo("images.example.com:8443");
  }

  @Test
  void defaultPortsAndEmptyPaths() throws Exception {
    HttpUrl http = HttpUrl.parse("http://example.com");
    HttpUrl https = HttpUrl.parse("https://example.com:443?q");

    assertThat(http.port()).isEqualTo(80);
    assertThat(http.requestTarget()).isEqualTo("/");
    assertThat(http.hostHeader()).isEqualTo("example.com");
    assertThat(https.port()).isEqualTo(443);
    assertThat(https.requestTarget()).isEqualTo("/?q");
    assertThat(https.hostHeader()).isEqualTo("example.com");
  }

  @Test
  void ipLiterals() throws Exception {
    HttpUrl v6 = HttpUrl.parse("http://[2001:db8::1]:8080/x");
    HttpUrl v4 = HttpUrl.parse("http://192.0.2.7/x");

    assertThat(v6.host()).isEqualTo("2001:db8::1");
    assertThat(v6.ipLiteral()).isTrue();
    assertThat(v6.hostHeader()).isEqualTo("[2001:db8::1]:8080");
    assertThat(v4.ipLiteral()).isTrue();
  }

  @Test
  void acceptsHostNamesThatUriCallsRegistryBased() throws Exception {
    HttpUrl u = HttpUrl.parse("http://my_cdn.example.com/x.png");

    assertThat(u.host()).isEqualTo("my_cdn.example.com");
  }

  @ParameterizedTest
  @CsvSource(delimiterString = " => ", value = {
      "http://example.com/a b.jpg => /a%20b.jpg",
      "http://example.com/Ünïcode.jpg?q=ä => /%C3%9Cn%C3%AFcode.jpg?q=%C3%A4",
      "http://example.com/a|b[1]{2}.jpg => /a%7Cb%5B1%5D%7B2%7D.jpg",
      "http://example.com/100%.jpg => /100%25.jpg",
      "http://example.com/already%20ok.jpg => /already%20ok.jpg",
      "http://example.com/x.jpg?a[]=1&b=%7e => /x.jpg?a[]=1&b=%7e",
      "http://example.com/😀.png => /%F0%9F%98%80.png",
  })
  void percentEncodesWhatAUriDoesNotAllow(String url, String target) throws Exception {
    assertThat(HttpUrl.parse(url).requestTarget()).isEqualTo(target);
  }

  @Test
  void convertsAnInternationalHostToPunycode() throws Exception {
    assertThat(HttpUrl.parse("http://bücher.example/ä.jpg").host()).isEqualTo("xn--bcher-kva.example");
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "http://h.example/a/b/c.jpg | d.jpg              | http://h.example/a/b/d.jpg",
      "http://h.example/a/b/c.jpg | ../d.jpg           | http://h.example/a/d.jpg",
      "http://h.example/a/b/c.jpg | /d.jpg             | http://h.example/d.jpg",
      "http://h.example/a/b/c.jpg | ?v=2               | http://h.example/a/b/c.jpg?v=2",
      "http://h.example/a/c.jpg?v=1 | #top             | http://h.example/a/c.jpg?v=1",
      "http://h.example/a/b/c.jpg | //cdn.example/e.jpg | http://cdn.example/e.jpg",
      "http://h.example           | e.jpg              | http://h.example/e.jpg",
      "https://h.example/x        | http://o.example/y | http://o.example/y",
      "http://h.example/x         | /a b.jpg           | http://h.example/a%20b.jpg",
  })
  void resolvesRedirectTargets(String base, String location, String expected) throws Exception {
    assertThat(HttpUrl.parse(base).resolve(location).toString()).isEqualTo(expected);
  }

  @Test
  void explainsWhyAUrlIsRefused() {
    assertThatThrownBy(() -> HttpUrl.parse("ftp://h.example/x")).hasMessage("the scheme ftp is neither http nor https");
    assertThatThrownBy(() -> HttpUrl.parse("  ")).hasMessage("the URL is empty");
    assertThatThrownBy(() -> HttpUrl.parse("h.example/x.jpg")).hasMessage("not an absolute http or https URL");
    assertThatThrownBy(() -> HttpUrl.parse("http://h.example:0/")).hasMessage("the port 0 is not between 1 and 65535");
    assertThatThrownBy(() -> HttpUrl.parse("http://h.example:8x/")).hasMessageContaining("8x");
    assertThatThrownBy(() -> HttpUrl.parse("http://h.example/x").resolve("mailto:a@b.example"))
        .isInstanceOf(HttpUrl.BadUrlException.class);
  }
}
