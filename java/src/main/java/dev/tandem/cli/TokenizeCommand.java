package dev.tandem.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.checkpoint.ModelLoader;
import dev.tandem.tokenizer.Tokenizer;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code tandem tokenize}: text to token ids, or ids to text. */
@Command(name = "tokenize", mixinStandardHelpOptions = true,
    description = "Print the token ids of a text (no BOS is added), or the text of token ids (--decode).")
public final class TokenizeCommand implements Callable<Integer> {
  @Option(names = "--tokenizer", required = true, description = "A tokenizer.json, a model directory or a GGUF file.")
  Path tokenizer;

  @ArgGroup(exclusive = true, multiplicity = "1")
  Input input;

  static final class Input {
    @Option(names = "--text", description = "The text to encode.")
    String text;

    @Option(names = "--file", description = "A UTF-8 file whose content to encode (its bytes, exactly).")
    Path file;

    @Option(names = "--decode", split = ",", description = "Token ids to decode, e.g. 1,2,3.")
    int[] decode;
  }

  @Option(names = "--json", description = "Print JSON: ids with their token strings, or the decoded text.")
  boolean json;

  @Override
  public Integer call() throws Exception {
    Tokenizer t = ModelLoader.loadTokenizer(tokenizer);
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    ObjectMapper mapper = new ObjectMapper();
    if (input.decode != null) {
      String text = t.decode(input.decode);
      if (json) {
        ObjectNode n = mapper.createObjectNode();
        ArrayNode ids = n.putArray("ids");
        Arrays.stream(input.decode).forEach(ids::add);
        n.put("text", text);
        out.println(mapper.writeValueAsString(n));
      } else {
        out.println(text);
      }
      return 0;
    }
    int[] ids;
    if (input.file != null) {
      if (!Files.isRegularFile(input.file)) throw new IllegalArgumentException("file not found: " + input.file);
      ids = t.encode(Files.readAllBytes(input.file));
    } else {
      ids = t.encode(input.text);
    }
    if (json) {
      ObjectNode n = mapper.createObjectNode();
      ArrayNode idArray = n.putArray("ids");
      ArrayNode tokens = n.putArray("tokens");
      for (int id : ids) {
        idArray.add(id);
        tokens.add(t.token(id));
      }
      n.put("count", ids.length);
      out.println(mapper.writeValueAsString(n));
    } else {
      out.println(Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(" ")));
    }
    return 0;
  }
}
