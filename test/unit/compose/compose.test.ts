import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { compileBootstrapConfig } from '../../../services/bootstrap/config.ts';
import { DEFAULT_TOPICS, TOPIC_VARIABLES, readCommonConfig, type TopicsConfig } from '../../../services/shared/config/common-config.ts';
import { EnvReader } from '../../../services/shared/config/env-reader.ts';
import { topicPlan } from '../../../services/shared/kafka/topic-plan.ts';

// docker-compose.yml cannot run on the build machines (no Docker engine), so this test holds it
// to the code instead: variable names, ports, scrape targets, dependencies and topic settings.

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | number | { target: number; published?: number | string; host_ip?: string })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  volumes?: (string | { source?: string; target: string; type?: string })[];
  restart?: string;
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

function loadYaml<T>(relativePath: string): T {
  return parse(readFileSync(ROOT + relativePath, 'utf8'), { merge: true }) as T;
}

const compose = loadYaml<ComposeFile>('docker-compose.yml');
const services = Object.entries(compose.services);

function environmentOf(service: ComposeService): Record<string, string> {
  const env: Record<string, string> = {};
  if (Array.isArray(service.environment)) {
    for (const item of service.environment) {
      const at = item.indexOf('=');
      env[at < 0 ? item : item.slice(0, at)] = at < 0 ? '' : item.slice(at + 1);
    }
  } else {
    for (const [name, value] of Object.entries(service.environment ?? {})) env[name] = value === null ? '' : String(value);
  }
  return env;
}

function dependenciesOf(service: ComposeService): [string, string][] {
  const dependsOn = service.depends_on ?? [];
  if (Array.isArray(dependsOn)) return dependsOn.map((name) => [name, 'service_started']);
  return Object.entries(dependsOn).map(([name, spec]) => [name, spec.condition ?? 'service_started']);
}

function containerPorts(service: ComposeService): number[] {
  return (service.ports ?? []).map((port) => {
    if (typeof port === 'object') return port.target;
    const container = String(port).split('/')[0]?.split(':').pop() ?? '';
    return Number(container);
  });
}

function volumeMounts(service: ComposeService): { source: string; target: string }[] {
  return (service.volumes ?? []).map((volume) => {
    if (typeof volume === 'object') return { source: volume.source ?? '', target: volume.target };
    const [source = '', target = ''] = volume.split(':');
    return { source, target };
  });
}

function healthcheckText(service: ComposeService): string {
  const test = service.healthcheck?.test;
  return Array.isArray(test) ? test.join(' ') : (test ?? '');
}

function typeScriptFiles(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((file) => file.endsWith('.ts')).map((file) => `${dir}/${file}`);
}

/** Every STO_ variable name that appears as a string literal in services/**\/*.ts. */
function variablesReadByServices(): Set<string> {
  const names = new Set<string>();
  for (const file of typeScriptFiles(`${ROOT}services`)) {
    for (const match of readFileSync(file, 'utf8').matchAll(/['"`](STO_[A-Z0-9_]+)['"`]/g)) names.add(match[1] as string);
  }
  return names;
}

/** `service.VARIABLE` for every STO_ variable of the compose file that no service reads. */
function unknownVariables(file: ComposeFile, known: Set<string>): string[] {
  const unknown: string[] = [];
  for (const [name, service] of Object.entries(file.services)) {
    for (const variable of Object.keys(environmentOf(service))) {
      if (variable.startsWith('STO_') && !known.has(variable)) unknown.push(`${name}.${variable}`);
    }
  }
  return unknown;
}

/** The services built from the project's image, i.e. the ones that read STO_ variables. */
const pipelineServices = services.filter(([, service]) => service.build !== undefined);
const adminServices = pipelineServices.filter(([, service]) => environmentOf(service).STO_ADMIN_PORT !== undefined);

describe('docker-compose.yml', () => {
  it('has the parts the design names', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['delay', 'engine', 'grafana', 'init', 'kafka', 'outcomes', 'prometheus', 'schema-registry']);
    expect(compose.services.kafka?.image).toMatch(/^apache\/kafka:3\.9\./);
    expect(compose.services['schema-registry']?.image).toMatch(/^confluentinc\/cp-schema-registry:7\.\d+\.\d+$/);
    expect(adminServices.map(([name]) => name).sort()).toEqual(['delay', 'engine', 'outcomes']);
  });

  it.each(services)('%s has an image or a build', (_name, service) => {
    expect(service.image !== undefined || service.build !== undefined).toBe(true);
  });

  it("builds the project's image from a Dockerfile that exists, and runs the project's entry points", () => {
    for (const [name, service] of pipelineServices) {
      const build = typeof service.build === 'string' ? { context: service.build } : (service.build ?? {});
      expect(existsSync(`${ROOT}${build.context ?? '.'}/${build.dockerfile ?? 'Dockerfile'}`), name).toBe(true);
      const command = Array.isArray(service.command) ? service.command : String(service.command ?? '').split(' ');
      expect(command[0], name).toBe('node');
      const entry = command[1] ?? '';
      expect(entry, name).toMatch(/^services\/[a-z-]+\/main\.ts$/);
    }
    const commands = Object.fromEntries(pipelineServices.map(([name, service]) => [name, (service.command as string[])[1]]));
    expect(commands).toEqual({ init: 'services/bootstrap/main.ts', engine: 'services/engine/main.ts', delay: 'services/delay/main.ts', outcomes: 'services/outcomes/main.ts' });
    // The bootstrap entry point exists now; engine and delay are checked as they land.
    expect(existsSync(`${ROOT}services/bootstrap/main.ts`)).toBe(true);
  });

  describe('STO_ variables', () => {
    const known = variablesReadByServices();

    it('are collected from the sources (the scanner sees the common settings)', () => {
      for (const name of ['STO_KAFKA_BROKERS', 'STO_SCHEMA_REGISTRY_URL', 'STO_ADMIN_PORT', 'STO_ADMIN_HOST', 'STO_STATE_DIR', 'STO_PARTITIONS']) {
        expect(known, name).toContain(name);
      }
      for (const name of Object.values(TOPIC_VARIABLES)) expect(known, name).toContain(name);
    });

    it('are all read by some service', () => {
      expect(unknownVariables(compose, known)).toEqual([]);
    });

    it('would be caught if a variable were renamed in the code or misspelt here', () => {
      const renamedInCode = new Set([...known].filter((name) => name !== 'STO_KAFKA_BROKERS'));
      expect(unknownVariables(compose, renamedInCode)).toEqual(
        expect.arrayContaining(pipelineServices.map(([name]) => `${name}.STO_KAFKA_BROKERS`)),
      );
      const misspelt: ComposeFile = { services: { engine: { image: 'x', environment: { STO_KAFKA_BROKER: 'kafka:29092' } } } };
      expect(unknownVariables(misspelt, known)).toEqual(['engine.STO_KAFKA_BROKER']);
    });

    it('in the Dockerfile are read by some service too', () => {
      const dockerfile = readFileSync(`${ROOT}infra/docker/Dockerfile`, 'utf8');
      const names = [...dockerfile.matchAll(/\b(STO_[A-Z0-9_]+)=/g)].map((match) => match[1] as string);
      expect(names.length).toBeGreaterThan(0);
      for (const name of names) expect(known, name).toContain(name);
    });

    it.each(pipelineServices)('of %s are valid values for the shared config', (name, service) => {
      const reader = new EnvReader(environmentOf(service));
      const common = reader.done(readCommonConfig(reader, name, 0));
      expect(common.kafka.brokers).toEqual(['kafka:29092']);
      expect(new URL(common.registry.url).host).toBe('schema-registry:8081');
    });
  });

  it.each(adminServices)('%s publishes and health-checks its STO_ADMIN_PORT on all interfaces', (_name, service) => {
    const env = environmentOf(service);
    const port = Number(env.STO_ADMIN_PORT);
    expect(containerPorts(service)).toContain(port);
    expect(env.STO_ADMIN_HOST).toBe('0.0.0.0');
    expect(healthcheckText(service)).toContain(`:${port}/readyz`);
  });

  describe('exposure', () => {
    const raw = readFileSync(`${ROOT}docker-compose.yml`, 'utf8');
    /** The value compose uses when the variables are unset: `${NAME:-default}` becomes `default`. */
    const byDefault = (value: string) => value.replace(/\$\{[A-Z0-9_]+:-([^}]*)\}/g, '$1');
    const published = services.flatMap(([name, service]) => (service.ports ?? []).map((port) => [name, port] as const));

    it('publishes ports', () => {
      expect(published.map(([name]) => name).sort()).toEqual(['delay', 'engine', 'grafana', 'kafka', 'outcomes', 'prometheus', 'schema-registry']);
    });

    it.each(published)('%s binds its published port %s to 127.0.0.1 unless told otherwise', (_name, port) => {
      if (typeof port === 'object') {
        expect(port.host_ip).toBe('127.0.0.1');
        return;
      }
      // Short syntax: [host_ip:]host_port:container_port; without a host_ip Docker binds 0.0.0.0.
      const parts = byDefault(String(port)).split(':');
      expect(parts).toHaveLength(3);
      expect(parts[0]).toBe('127.0.0.1');
    });

    it('would catch a port published on every interface', () => {
      expect(byDefault('9092:9092').split(':')).toHaveLength(2);
      expect(byDefault('${STO_PUBLISH_ADDRESS:-0.0.0.0}:9092:9092').split(':')[0]).toBe('0.0.0.0');
    });

    it('ships no password: each is a variable the user must set', () => {
      for (const [name, service] of services) {
        for (const [variable, value] of Object.entries(environmentOf(service))) {
          if (!/PASSWORD|SECRET|TOKEN|CREDENTIAL/i.test(variable)) continue;
          expect(value, `${name}.${variable}`).toMatch(/^\$\{[A-Z0-9_]+:\?[^}]+\}$/);
        }
      }
      expect(environmentOf(compose.services.grafana ?? {}).GF_SECURITY_ADMIN_PASSWORD).toMatch(/^\$\{GRAFANA_ADMIN_PASSWORD:\?/);
      expect(raw).not.toContain('admin/admin');
    });
  });

  it('gives engine and delay the admin ports 9401 and 9402', () => {
    expect(environmentOf(compose.services.engine ?? {}).STO_ADMIN_PORT).toBe('9401');
    expect(environmentOf(compose.services.delay ?? {}).STO_ADMIN_PORT).toBe('9402');
  });

  it.each(adminServices)('%s keeps STO_STATE_DIR on a named volume', (_name, service) => {
    const stateDir = environmentOf(service).STO_STATE_DIR ?? '';
    const mount = volumeMounts(service).find(({ target }) => stateDir === target || stateDir.startsWith(`${target}/`));
    expect(mount, `no volume holds ${stateDir}`).toBeDefined();
    expect(Object.keys(compose.volumes ?? {})).toContain(mount?.source);
  });

  it('mounts only declared volumes and files that exist in the repository', () => {
    for (const [name, service] of services) {
      for (const { source } of volumeMounts(service)) {
        if (source.startsWith('.')) expect(existsSync(ROOT + source), `${name}: ${source}`).toBe(true);
        else expect(Object.keys(compose.volumes ?? {}), `${name}: ${source}`).toContain(source);
      }
    }
  });

  it.each(services)('%s depends only on services that exist, healthy ones having a healthcheck', (name, service) => {
    for (const [target, condition] of dependenciesOf(service)) {
      const dependency = compose.services[target];
      expect(dependency, `${name} depends on ${target}`).toBeDefined();
      expect(['service_started', 'service_healthy', 'service_completed_successfully']).toContain(condition);
      if (condition === 'service_healthy') {
        expect(healthcheckText(dependency ?? {}), `${target} needs a healthcheck`).not.toBe('');
        expect(dependency?.healthcheck?.disable).not.toBe(true);
      }
      if (condition === 'service_completed_successfully') {
        // A one-shot job: restarting it would never let it "complete".
        expect(['no', undefined]).toContain(dependency?.restart);
      }
    }
  });

  it('starts engine and delay only after the bootstrap job succeeded', () => {
    for (const name of ['engine', 'delay']) {
      expect(dependenciesOf(compose.services[name] ?? {})).toContainEqual(['init', 'service_completed_successfully']);
    }
    expect(dependenciesOf(compose.services.init ?? {})).toEqual(
      expect.arrayContaining([
        ['kafka', 'service_healthy'],
        ['schema-registry', 'service_healthy'],
      ]),
    );
  });

  describe('topics and partitions', () => {
    const topicsOf = (service: ComposeService): TopicsConfig => {
      const reader = new EnvReader(environmentOf(service));
      return reader.done(readCommonConfig(reader, 'compose', 0)).topics;
    };

    it.each(pipelineServices)('%s uses the default topic names of the plan', (_name, service) => {
      expect(topicsOf(service)).toEqual({ ...DEFAULT_TOPICS });
    });

    it('bootstraps the same topic plan as the default bootstrap config', () => {
      const init = compose.services.init ?? {};
      const fromCompose = compileBootstrapConfig(environmentOf(init));
      const defaults = compileBootstrapConfig({});
      expect(environmentOf(init).STO_PARTITIONS).toBeDefined();
      expect(fromCompose.partitions).toBe(defaults.partitions);
      expect(topicPlan(fromCompose.common.topics, fromCompose.partitions)).toEqual(topicPlan(DEFAULT_TOPICS, defaults.partitions));
    });

    it('points every pipeline service at the broker and registry of the compose network', () => {
      const kafka = environmentOf(compose.services.kafka ?? {});
      const internal = (kafka.KAFKA_ADVERTISED_LISTENERS ?? '').split(',').find((listener) => listener.startsWith(`${kafka.KAFKA_INTER_BROKER_LISTENER_NAME}://`));
      expect(internal).toBe('INTERNAL://kafka:29092');
      expect(kafka.KAFKA_ADVERTISED_LISTENERS).toContain('://localhost:9092');
      for (const [name, service] of pipelineServices) expect(environmentOf(service).STO_KAFKA_BROKERS, name).toBe('kafka:29092');
      expect(containerPorts(compose.services.kafka ?? {})).toContain(9092);
    });

    it('keeps broker auto-create off and uses a valid KRaft cluster id', () => {
      const kafka = environmentOf(compose.services.kafka ?? {});
      expect(kafka.KAFKA_AUTO_CREATE_TOPICS_ENABLE).toBe('false');
      expect(kafka.KAFKA_PROCESS_ROLES).toBe('broker,controller');
      expect(Buffer.from(kafka.CLUSTER_ID ?? '', 'base64url')).toHaveLength(16);
    });
  });

  describe('monitoring', () => {
    interface ScrapeConfig {
      job_name: string;
      metrics_path?: string;
      static_configs: { targets: string[] }[];
    }
    const prometheus = loadYaml<{ scrape_configs: ScrapeConfig[] }>('infra/prometheus/prometheus.yml');

    it('mounts the Prometheus config from infra/prometheus/', () => {
      expect(volumeMounts(compose.services.prometheus ?? {})).toContainEqual({
        source: './infra/prometheus/prometheus.yml',
        target: '/etc/prometheus/prometheus.yml',
      });
    });

    it("scrapes /metrics on exactly the services' admin ports", () => {
      const targets = prometheus.scrape_configs.flatMap((job) => job.static_configs.flatMap((group) => group.targets));
      const expected = adminServices.map(([name, service]) => `${name}:${environmentOf(service).STO_ADMIN_PORT}`);
      expect(targets.sort()).toEqual(expected.sort());
      for (const job of prometheus.scrape_configs) expect(job.metrics_path ?? '/metrics').toBe('/metrics');
    });

    it('provisions Grafana with the Prometheus service as its default datasource', () => {
      const grafana = compose.services.grafana ?? {};
      const provisioning = volumeMounts(grafana).find(({ target }) => target === '/etc/grafana/provisioning');
      expect(provisioning?.source).toBe('./infra/grafana/provisioning');
      const datasources = loadYaml<{ datasources: { type: string; url: string; isDefault?: boolean }[] }>(
        'infra/grafana/provisioning/datasources/prometheus.yml',
      ).datasources;
      const promPort = containerPorts(compose.services.prometheus ?? {})[0];
      expect(datasources).toContainEqual(expect.objectContaining({ type: 'prometheus', url: `http://prometheus:${promPort}`, isDefault: true }));
      expect(dependenciesOf(grafana)).toContainEqual(['prometheus', 'service_healthy']);
    });
  });
});
