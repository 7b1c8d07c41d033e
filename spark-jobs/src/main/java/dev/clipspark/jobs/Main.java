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
        EvaluateCommand.class,
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

  /** The version from the jar's manifest. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = Main.class.getPackage().getImplementationVersion();
      return new String[] {"ClipSpark " + (v == null ? "(development build)" : v)};
    }
  }
}
