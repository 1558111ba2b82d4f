package io.sto.peer;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.HashMap;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;

/**
 * Confluent framing (magic 0, 4-byte schema id, Avro body) decoded with Apache Avro against the
 * writer schema fetched once per id from the registry's Confluent-compatible API. One instance per
 * stream task: the reader, decoder and record are reused from record to record.
 */
public final class RegistryAvroDecoder {
  private final String registryUrl;
  private final HttpClient http = HttpClient.newHttpClient();
  private final ObjectMapper json = new ObjectMapper();
  private final Map<Integer, GenericDatumReader<GenericRecord>> readers = new HashMap<>();
  private BinaryDecoder decoder;
  private GenericRecord reuse;

  public RegistryAvroDecoder(String registryUrl) {
    this.registryUrl = registryUrl.endsWith("/") ? registryUrl.substring(0, registryUrl.length() - 1) : registryUrl;
  }

  public GenericRecord decode(byte[] bytes) {
    if (bytes == null || bytes.length < 5 || bytes[0] != 0) throw new IllegalArgumentException("not a Confluent-framed Avro value");
    int id = ((bytes[1] & 0xff) << 24) | ((bytes[2] & 0xff) << 16) | ((bytes[3] & 0xff) << 8) | (bytes[4] & 0xff);
    GenericDatumReader<GenericRecord> reader = readers.computeIfAbsent(id, this::fetch);
    decoder = DecoderFactory.get().binaryDecoder(bytes, 5, bytes.length - 5, decoder);
    try {
      reuse = reader.read(reuse, decoder);
      return reuse;
    } catch (IOException error) {
      throw new IllegalArgumentException("Avro body does not decode with schema " + id, error);
    }
  }

  private GenericDatumReader<GenericRecord> fetch(int id) {
    try {
      HttpRequest request = HttpRequest.newBuilder(URI.create(registryUrl + "/schemas/ids/" + id)).GET().build();
      HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
      if (response.statusCode() != 200) throw new IllegalStateException("registry answered " + response.statusCode() + " for schema " + id);
      Schema schema = new Schema.Parser().parse(json.readTree(response.body()).get("schema").asText());
      return new GenericDatumReader<>(schema);
    } catch (IOException error) {
      throw new IllegalStateException("registry unreachable for schema " + id, error);
    } catch (InterruptedException error) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted fetching schema " + id, error);
    }
  }
}
