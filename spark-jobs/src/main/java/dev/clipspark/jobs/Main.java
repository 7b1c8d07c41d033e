package dev.clipspark.jobs;

import dev.clipspark.dataset.config.ConfigValueException;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * {@code clip}: ClipSpark's command line. {@code bin/clip <subcommand>} runs it in Spark local mode;
 * {@code spark-submit --class dev.clipspark.jobs.Main <jar> <subcommand>} runs it on a cluster.
 *
 * <p>Exit codes: 0 done; 2 bad command line, settings or input (nothing was started); 1 the job failed.
 */
@Command(
    name = "clip",
    mixinStandardHelpOptions = true,
    versionProvider = Main.Version.class,
    description = "ClipSpark: build WIT-style image-text datasets and train CLIP on Apache Spark.",
    subcommands = {
        DemoCommand.class,
        BuildQueriesCommand.class,
        BuildDatasetCommand.class,
        TrainTokenizerCommand.class,
        TrainCommand.class,
        TrainLmCommand.class,
        TrainLimberCommand.class,
        EvaluateCommand.class,
        CaptionCommand.class,
        ImportWeightsCommand.class,
        ExportWeightsCommand.class,
        BenchCommand.class,
        CommandLine.HelpCommand.class,
    })
public final class Main implements Runnable {

  /** Exit code of a bad command line, bad settings or bad input. */
  public static final int USAGE = 2;

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "Missing subcommand");
  }

  public static void main(String[] args) {
    // Spark's barrier and timer threads are not daemons: exit explicitly.
    System.exit(run(args));
  }

  /** Runs the command line and returns the exit code, without exiting (tests call this). */
  public static int run(String... args) {
    return commandLine().execute(args);
  }

  /** The configured picocli command line. */
  public static CommandLine commandLine() {
    var cl = new CommandLine(new Main());
    // Descriptions are paragraphs that wrap to the terminal's width (80 columns when it cannot be told).
    cl.setUsageHelpAutoWidth(true);
    cl.setCaseInsensitiveEnumValuesAllowed(true);
    // picocli does not check unmatched arguments when --help is given, so 'clip NOSUCH --help' would print the
    // top-level help and exit 0: refuse them first, so a script probing for a command is not misled.
    var runLast = new CommandLine.RunLast();
    cl.setExecutionStrategy(parseResult -> {
      refuseUnmatched(parseResult);
      return runLast.execute(parseResult);
    });
    cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
      PrintWriter err = commandLine.getErr();
      if (ex instanceof ConfigValueException || ex instanceof IllegalArgumentException) {
        err.println("clip " + commandLine.getCommandName() + ": " + ex.getMessage());
        err.flush();
        return USAGE;
      }
      err.println("clip " + commandLine.getCommandName() + " failed: " + ex);
      ex.printStackTrace(err);
      err.flush();
      return 1;
    });
    return cl;
  }

  /**
   * Throws a usage error for the first command on the parsed path with arguments it does not know: "Unknown
   * command" with the commands there are when the argument looks like a command name.
   */
  static void refuseUnmatched(CommandLine.ParseResult parseResult) {
    for (var pr = parseResult; pr != null; pr = pr.subcommand()) {
      var unmatched = pr.unmatched();
      if (unmatched.isEmpty()) {
        continue;
      }
      var cl = pr.commandSpec().commandLine();
      String first = unmatched.get(0);
      if (!first.startsWith("-") && !cl.getSubcommands().isEmpty() && !pr.hasSubcommand()) {
        var names = cl.getSubcommands().keySet().stream().filter(n -> !n.equals("help")).toList();
        throw new CommandLine.UnmatchedArgumentException(cl,
            "Unknown command '" + first + "' for '" + pr.commandSpec().qualifiedName()
                + "': must be one of " + String.join(", ", names));
      }
      throw new CommandLine.UnmatchedArgumentException(cl, unmatched);
    }
  }

  /** The version from the jar's manifest. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = Main.class.getPackage().getImplementationVersion();
      return new String[] {"ClipSpark " + (v == null ? "(development build)" : v)};
    }
  }
}
