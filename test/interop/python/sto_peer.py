"""An independent client of the pipeline's topics: Confluent's Python client and its Avro serde.

Driven by test/integration/interop as a child process. Reads one JSON job on stdin, prints one
JSON answer on stdout; diagnostics go to stderr. JSON carries Avro bytes as {"$bytes": base64}
and timestamp-millis values as epoch milliseconds, so both sides compare field by field.

  produce   {bootstrap, registry, topic, schemaFile, records: [{key, value}]}
            -> {schemaId, delivered: [{key, partition, offset}]}
  consume   {bootstrap, registry, topic, count, timeoutSeconds}
            -> {records: [{key, partition, offset, schemaId, value}]}
  versions  -> {confluentKafka, librdkafka, fastavro}
"""

import base64
import datetime
import importlib.metadata as metadata
import json
import struct
import sys
import time
import uuid

import fastavro
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka import libversion
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext, StringDeserializer, StringSerializer

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def from_json(value):
    """JSON job values to what fastavro writes: {"$bytes": ...} becomes bytes."""
    if isinstance(value, dict):
        if set(value) == {"$bytes"}:
            return base64.b64decode(value["$bytes"])
        return {key: from_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_json(item) for item in value]
    return value


def to_json(value):
    """Decoded Avro values to JSON: bytes as {"$bytes": ...}, timestamps as epoch milliseconds."""
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, datetime.datetime):
        return (value - EPOCH) // datetime.timedelta(milliseconds=1)
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_json(item) for item in value]
    return value


def framed_schema_id(payload):
    magic, schema_id = struct.unpack(">bI", payload[:5])
    if magic != 0:
        raise ValueError(f"magic byte {magic}, expected 0")
    return schema_id


def produce(job):
    registry = SchemaRegistryClient({"url": job["registry"], "timeout": 10})
    with open(job["schemaFile"], encoding="utf-8") as schema_file:
        schema_str = schema_file.read()
    # The bootstrap registers the schemas; an independent producer only looks its schema up, so
    # the copy in schemas/ must be the one the registry holds under <topic>-value.
    serialize_value = AvroSerializer(
        registry,
        schema_str,
        conf={"auto.register.schemas": False, "use.latest.version": False, "normalize.schemas": False},
    )
    serialize_key = StringSerializer("utf_8")
    producer = Producer(
        {
            "bootstrap.servers": job["bootstrap"],
            # librdkafka's default is consistent_random (CRC32); murmur2_random is the Java
            # client's (and kafkajs') partitioner, so a recipient lands on the same partition.
            "partitioner": "murmur2_random",
            "enable.idempotence": True,
            "linger.ms": 5,
        }
    )
    delivered = []
    failures = []

    def on_delivery(error, message):
        if error is not None:
            failures.append(str(error))
            return
        delivered.append({"key": message.key().decode("utf-8"), "partition": message.partition(), "offset": message.offset()})

    topic = job["topic"]
    schema_id = None
    for record in job["records"]:
        value = serialize_value(from_json(record["value"]), SerializationContext(topic, MessageField.VALUE))
        schema_id = framed_schema_id(value)
        producer.produce(topic, key=serialize_key(record["key"]), value=value, on_delivery=on_delivery)
        producer.poll(0)
    remaining = producer.flush(30)
    if remaining or failures:
        raise RuntimeError(f"{remaining} records undelivered, failures: {failures[:3]}")
    return {"schemaId": schema_id, "delivered": delivered}


def consume(job):
    registry = SchemaRegistryClient({"url": job["registry"], "timeout": 10})
    # No reader schema: the writer schema comes from the registry by the id in each record.
    deserialize_value = AvroDeserializer(registry)
    deserialize_key = StringDeserializer("utf_8")
    topic = job["topic"]
    consumer = Consumer(
        {
            "bootstrap.servers": job["bootstrap"],
            "group.id": f"sto-interop-peer-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    records = []
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        partitions = metadata.topics[topic].partitions
        if not partitions:
            raise RuntimeError(f"topic {topic} has no partitions")
        # Explicit assignment: no group rebalance to wait for.
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING) for partition in partitions])
        deadline = time.monotonic() + job.get("timeoutSeconds", 30)
        while len(records) < job["count"] and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                raise KafkaException(message.error())
            context = SerializationContext(topic, MessageField.VALUE)
            records.append(
                {
                    "key": deserialize_key(message.key(), SerializationContext(topic, MessageField.KEY)),
                    "partition": message.partition(),
                    "offset": message.offset(),
                    "schemaId": framed_schema_id(message.value()),
                    "value": to_json(deserialize_value(message.value(), context)),
                }
            )
    finally:
        consumer.close()
    return {"records": records}


def versions(_job):
    return {"confluentKafka": metadata.version("confluent-kafka"), "librdkafka": libversion()[0], "fastavro": fastavro.__version__}


COMMANDS = {"produce": produce, "consume": consume, "versions": versions}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in COMMANDS:
        sys.stderr.write(f"usage: sto_peer.py {{{'|'.join(COMMANDS)}}} < job.json\n")
        return 2
    raw = sys.stdin.read()
    job = json.loads(raw) if raw.strip() else {}
    answer = COMMANDS[sys.argv[1]](job)
    sys.stdout.write(json.dumps(answer, ensure_ascii=False))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
