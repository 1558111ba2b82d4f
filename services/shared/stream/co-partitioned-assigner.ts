import type { PartitionAssigner } from 'kafkajs';
import { AssignerProtocol } from '../kafka/kafkajs.ts';

export const CO_PARTITIONED_ASSIGNER = 'StoCoPartitionedAssigner';

interface MemberClaim {
  memberId: string;
  instanceId: string;
  owned: number[];
}

/** What a member says about itself in its group metadata's userData. */
export interface MemberAdvert {
  instanceId: string;
  owned: number[];
  /** Where its admin server answers (the query API forwards there), when it serves one. */
  adminUrl: string | null;
}

/**
 * Reads a member's advert from its encoded group metadata (a JoinGroup's or DescribeGroups'
 * memberMetadata); null when the metadata is not ours or does not decode.
 */
export function decodeMemberAdvert(memberMetadata: Buffer): MemberAdvert | null {
  try {
    const decoded = AssignerProtocol.MemberMetadata.decode(memberMetadata);
    const claim = JSON.parse(decoded?.userData?.toString('utf8') || 'null') as Partial<MemberAdvert> | null;
    if (!claim || typeof claim.instanceId !== 'string') return null;
    return {
      instanceId: claim.instanceId,
      owned: Array.isArray(claim.owned) ? claim.owned.filter((partition) => Number.isInteger(partition)) : [],
      adminUrl: typeof claim.adminUrl === 'string' ? claim.adminUrl : null,
    };
  } catch {
    return null;
  }
}

/**
 * Pure assignment: every member gets the same partition NUMBERS of every topic (co-partitioning),
 * balanced, and sticky: a member keeps the partitions it owned up to its fair share, so a
 * rebalance moves as few partition stores as possible.
 */
export function assignCoPartitioned(claims: MemberClaim[], partitionCount: number): Map<string, number[]> {
  const members = [...claims].sort((a, b) => a.instanceId.localeCompare(b.instanceId) || a.memberId.localeCompare(b.memberId));
  const result = new Map<string, number[]>(members.map((member) => [member.memberId, []]));
  if (members.length === 0) return result;
  const base = Math.floor(partitionCount / members.length);
  const extra = partitionCount % members.length;
  const quota = new Map(members.map((member, index) => [member.memberId, base + (index < extra ? 1 : 0)]));
  const taken = new Set<number>();
  for (const member of members) {
    const mine = result.get(member.memberId) ?? [];
    for (const partition of [...member.owned].sort((a, b) => a - b)) {
      if (partition >= partitionCount || taken.has(partition) || mine.length >= (quota.get(member.memberId) ?? 0)) continue;
      mine.push(partition);
      taken.add(partition);
    }
  }
  let cursor = 0;
  for (let partition = 0; partition < partitionCount; partition++) {
    if (taken.has(partition)) continue;
    while ((result.get(members[cursor % members.length]!.memberId)?.length ?? 0) >= (quota.get(members[cursor % members.length]!.memberId) ?? 0)) {
      cursor++;
    }
    result.get(members[cursor % members.length]!.memberId)!.push(partition);
    taken.add(partition);
  }
  for (const list of result.values()) list.sort((a, b) => a - b);
  return result;
}

/**
 * kafkajs' stock assigners deal topic-partitions independently, so partition i of two topics can
 * land on two members. This one hands each member whole partition numbers across all topics.
 * `owned()` reports the partitions this instance currently holds (for stickiness); `adminUrl` is
 * where this instance's admin server answers, advertised to the group.
 */
export function coPartitionedAssigner(options: { instanceId: string; owned: () => number[]; adminUrl?: string | null }): PartitionAssigner {
  return ({ cluster }) => ({
    name: CO_PARTITIONED_ASSIGNER,
    version: 1,
    async assign({ members, topics }) {
      const counts = topics.map((topic) => cluster.findTopicPartitionMetadata(topic).length);
      const partitionCount = Math.max(0, ...counts);
      const claims: MemberClaim[] = members.map(({ memberId, memberMetadata }) => {
        const advert = decodeMemberAdvert(memberMetadata);
        return { memberId, instanceId: advert?.instanceId ?? memberId, owned: advert?.owned ?? [] };
      });
      const plan = assignCoPartitioned(claims, partitionCount);
      return [...plan.entries()].map(([memberId, partitions]) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: 1,
          assignment: Object.fromEntries(
            topics.map((topic, index) => [topic, partitions.filter((partition) => partition < (counts[index] ?? 0))]),
          ),
          userData: Buffer.alloc(0),
        }),
      }));
    },
    protocol({ topics }) {
      return {
        name: CO_PARTITIONED_ASSIGNER,
        metadata: AssignerProtocol.MemberMetadata.encode({
          version: 1,
          topics,
          // The admin address rides along (as Kafka Streams' application.server does), so any
          // member can read from the group who serves which partition.
          userData: Buffer.from(JSON.stringify({ instanceId: options.instanceId, owned: options.owned(), adminUrl: options.adminUrl ?? null } satisfies MemberAdvert)),
        }),
      };
    },
  });
}
