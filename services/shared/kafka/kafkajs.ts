// The project's one door to kafkajs' runtime values: the linear grouping must be installed before
// kafkajs loads (see kafkajs-grouping.ts). Types may come from 'kafkajs' directly (`import type`).
import './kafkajs-grouping.ts';
import './kafkajs-record.ts';
import kafkajs from 'kafkajs';

// kafkajs is CommonJS; Node's named-export detection misses some of its exports, so they are
// taken from the default export.
export const { AssignerProtocol, ConfigResourceTypes, Kafka, logLevel, Partitioners } = kafkajs;
