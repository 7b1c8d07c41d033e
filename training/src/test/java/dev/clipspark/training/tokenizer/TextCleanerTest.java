package dev.clipspark.training.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class TextCleanerTest {

  @Test
  void htmlUnescapeFollowsPython() {
    assertThat(TextCleaner.htmlUnescape("fish &amp; chips")).isEqualTo("fish & chips");
    assertThat(TextCleaner.htmlUnescape("fish &amp chips")).isEqualTo("fish & chips");
    assertThat(TextCleaner.htmlUnescape("&lt;b&gt; &quot;x&quot;")).isEqualTo("<b> \"x\"");
    assertThat(TextCleaner.htmlUnescape("&#39;&#x27;&#X41;&#65")).isEqualTo("''AA");
    assertThat(TextCleaner.htmlUnescape("&eacute;t&eacute;")).isEqualTo("été");
    // longest known prefix of an unknown name; unknown names stay
    assertThat(TextCleaner.htmlUnescape("&notit; &nosuch;")).isEqualTo("¬it; &nosuch;");
    // HTML5 rules for invalid numbers
    assertThat(TextCleaner.htmlUnescape("&#150;&#0;&#xD800;&#1114112;&#1;&#65535;x"))
        .isEqualTo("\u2013\ufffd\ufffd\ufffdx");
    assertThat(TextCleaner.htmlUnescape("&#x1F600;")).isEqualTo("😀");
    assertThat(TextCleaner.htmlUnescape("no entities")).isEqualTo("no entities");
  }

  @Test
  void cleanUnescapesTwiceCollapsesWhiteSpaceAndLowerCases() {
    assertThat(TextCleaner.clean("  Fish &amp;amp; CHIPS\t\n at  the\u00a0Café \u3000")).isEqualTo("fish & chips at the café");
    assertThat(TextCleaner.clean("&amp;lt;b&amp;gt;")).isEqualTo("<b>");
    assertThat(TextCleaner.clean("")).isEmpty();
    assertThat(TextCleaner.clean(" \t\n ")).isEmpty();
  }

  @Test
  void ftfyCharacterFixes() {
    assertThat(TextCleaner.fixText("Don’t “quote” ‘me’")).isEqualTo("Don't \"quote\" 'me'");
    assertThat(TextCleaner.fixText("ﬁsh ﬂour Ĳssel")).isEqualTo("fish flour IJssel");
    assertThat(TextCleaner.fixText("ＦＵＬＬ　ｗｉｄｔｈ ｶﾀｶﾅ")).isEqualTo("FULL width カタカナ");
    assertThat(TextCleaner.fixText("cafe\u0301")).isEqualTo("caf\u00e9");
    assertThat(TextCleaner.fixText("a\u0001b\u007fc\ufeffd")).isEqualTo("abcd");
    assertThat(TextCleaner.fixText("\u001b[31mred\u001b[0m")).isEqualTo("red");
    assertThat(TextCleaner.fixText("\u0093quoted\u0094 \u0080")).isEqualTo("\"quoted\" €");
    assertThat(TextCleaner.fixText("a\r\nb\rc")).isEqualTo("a\nb\nc");
    // ftfy unescapes entities that end in ';' (all-caps too), then uncurls what they give
    assertThat(TextCleaner.fixText("don&rsquo;t P&EACUTE;REZ &amp")).isEqualTo("don't PÉREZ &amp");
    // ... but not once a line holding '<' has been seen
    assertThat(TextCleaner.fixText("<b>don&rsquo;t</b>")).isEqualTo("<b>don&rsquo;t</b>");
    assertThat(TextCleaner.fixText("plain ascii & more")).isEqualTo("plain ascii & more");
  }

  @Test
  void mojibakeIsNotRepaired() {
    assertThat(TextCleaner.clean("cafÃ©")).isEqualTo("cafã©");
  }

  @Test
  void lowerFollowsPythonIncludingFinalSigma() {
    assertThat(TextCleaner.lower("ΟΔΥΣΣΕΥΣ")).isEqualTo("οδυσσευς");
    assertThat(TextCleaner.lower("ΣΑΣ^N")).isEqualTo("σασ^n");
    assertThat(TextCleaner.lower("ΑΣ\u0301")).isEqualTo("ας\u0301");
    assertThat(TextCleaner.lower("Σ")).isEqualTo("σ");
    assertThat(TextCleaner.lower("İSTANBUL")).isEqualTo("i\u0307stanbul");
  }
}
