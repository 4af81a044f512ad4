package dev.tandem.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of the {@code tandem} command line. Only this package exits the JVM. */
@Command(name = "tandem", mixinStandardHelpOptions = true, version = "tandem 0.1.0",
    description = "Inference engine and trainer for Tandem Transformers and Tandem + SPEED.",
    subcommands = {DemoCommand.class, InitCommand.class, InitRouterCommand.class, GenerateCommand.class,
        SpeedCommand.class, EvalCommand.class, TrainCommand.class, ConvertCommand.class, TokenizeCommand.class,
        BenchCommand.class, DeviceCommand.class, BatchCommand.class, DataCommand.class})
public final class Main implements Runnable {
  /** Exit status for bad input (missing files, invalid parameters, corrupt models). */
  public static final int EXIT_BAD_INPUT = 1;

  public static void main(String[] args) {
    System.exit(commandLine().execute(args));
  }

  /** The configured command line (tests run commands through it without exiting). */
  public static CommandLine commandLine() {
    CommandLine cli = new CommandLine(new Main());
    cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
      if (isUserError(e)) {
        commandLine.getErr().println("tandem: " + e.getMessage());
        return EXIT_BAD_INPUT;
      }
      throw e;
    });
    return cli;
  }

  private static boolean isUserError(Exception e) {
    return e instanceof IllegalArgumentException || e instanceof IOException || e instanceof UncheckedIOException
        || e instanceof IllegalStateException;
  }

  @Override
  public void run() {
    new CommandLine(this).usage(System.out);
  }
}
