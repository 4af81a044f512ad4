package dev.tandem.cli;

import dev.tandem.benchmark.BenchCommand;
import java.io.IOException;
import java.io.UncheckedIOException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of the {@code tandem} command line. Only this package exits the JVM. */
@Command(name = "tandem", mixinStandardHelpOptions = true, version = "tandem 0.1.0",
    description = "Inference engine and trainer for Tandem Transformers and Tandem + SPEED.",
    subcommands = {DemoCommand.class, InitCommand.class, InitRouterCommand.class, GenerateCommand.class,
        SpeedCommand.class, EvalCommand.class, TrainCommand.class, ConvertCommand.class, TokenizeCommand.class,
        BenchCommand.class, DeviceCommand.class, BatchCommand.class, ServeCommand.class, DataCommand.class})
public final class Main implements Runnable {
  /** Exit status for bad input (missing files, invalid parameters, corrupt models). */
  public static final int EXIT_BAD_INPUT = 1;

  public static void main(String[] args) {
    System.exit(commandLine().execute(args));
  }

  /** The configured command line (tests run commands through it without exiting). */
  public static CommandLine commandLine() {
    CommandLine cli = new CommandLine(new Main());
    cli.registerConverter(Integer.class, Main::parseInt);
    cli.registerConverter(Integer.TYPE, Main::parseInt);
    cli.registerConverter(Long.class, Main::parseLong);
    cli.registerConverter(Long.TYPE, Main::parseLong);
    // A bad option value is one line and exit 1, like every other bad input (not picocli's usage dump and 2).
    cli.setParameterExceptionHandler((e, args) -> {
      CommandLine c = e.getCommandLine();
      String help = c.getCommandSpec().qualifiedName(" ");
      c.getErr().println("tandem: " + e.getMessage() + " (see " + help + " --help)");
      return EXIT_BAD_INPUT;
    });
    cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
      if (isUserError(e)) {
        commandLine.getErr().println("tandem: " + describe(e));
        return EXIT_BAD_INPUT;
      }
      throw e;
    });
    return cli;
  }

  /** Integers with a message that says what is wrong: not a number, or out of range (with the range). */
  static int parseInt(String text) {
    long v = parseLong(text);
    if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
      throw new CommandLine.TypeConversionException("'" + text + "' is out of range (at most " + Integer.MAX_VALUE + ")");
    }
    return (int) v;
  }

  static long parseLong(String text) {
    String t = text.strip();
    try {
      return Long.parseLong(t);
    } catch (NumberFormatException e) {
      if (t.matches("[+-]?\\d+")) {
        throw new CommandLine.TypeConversionException("'" + text + "' is out of range (at most " + Long.MAX_VALUE + ")");
      }
      throw new CommandLine.TypeConversionException("'" + text + "' is not an integer");
    }
  }

  /**
   * The message of a user error. A file-system exception's own message is often only the path
   * ({@code init-router --out README.md} printed "tandem: README.md"): it gets the reason too.
   */
  static String describe(Exception e) {
    if (e instanceof java.nio.file.FileSystemException f && f.getFile() != null
        && (f.getMessage() == null || f.getMessage().equals(f.getFile()))) {
      String reason = switch (f) {
        case java.nio.file.FileAlreadyExistsException x -> "already exists (a file where a directory is needed, or"
            + " an output that is not overwritten)";
        case java.nio.file.NoSuchFileException x -> "no such file or directory";
        case java.nio.file.AccessDeniedException x -> "permission denied";
        case java.nio.file.NotDirectoryException x -> "not a directory";
        case java.nio.file.DirectoryNotEmptyException x -> "directory not empty";
        default -> f.getReason() != null ? f.getReason() : f.getClass().getSimpleName();
      };
      return f.getFile() + (f.getOtherFile() != null ? " -> " + f.getOtherFile() : "") + ": " + reason;
    }
    return e.getMessage();
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
