/**
 * The report's statistics, pure: a fixed-sample 95% interval for a difference of two means, a
 * normal-mixture confidence sequence for the same difference (valid at every look), and the
 * self-normalized inverse-propensity estimate of a target policy's mean.
 */

/** Sums of one outcome over the sends of one arm: mean and variance follow (y may be binary or a value). */
export interface MeanSums {
  n: number;
  sum: number;
  sumSq: number;
}

export interface Estimate {
  estimate: number;
  low: number;
  high: number;
}

export const Z_95 = 1.959963984540054;

export function mean(s: MeanSums): number {
  return s.n > 0 ? s.sum / s.n : 0;
}

/** The sample variance of one observation (n - 1 denominator; 0 below two observations). */
export function variance(s: MeanSums): number {
  if (s.n < 2) return 0;
  return Math.max(0, (s.sumSq - (s.sum * s.sum) / s.n) / (s.n - 1));
}

/** Variance of the estimated difference of means (Welch, unpooled). */
function differenceVariance(treatment: MeanSums, control: MeanSums): number {
  return variance(treatment) / treatment.n + variance(control) / control.n;
}

/** Treatment minus control with its 95% interval for one look at a fixed sample size; null without two sends per arm. */
export function differenceInterval(treatment: MeanSums, control: MeanSums): Estimate | null {
  if (treatment.n < 2 || control.n < 2) return null;
  const estimate = mean(treatment) - mean(control);
  const half = Z_95 * Math.sqrt(differenceVariance(treatment, control));
  return { estimate, low: estimate - half, high: estimate + half };
}

/**
 * Treatment minus control with a 95% confidence sequence: the normal-mixture boundary (Robbins'
 * mixture martingale, in the asymptotic form of Waudby-Smith et al., "Time-uniform central limit
 * theory and asymptotic confidence sequences", 2021). With t sends in all and s² = t·Var(difference),
 * the radius is sqrt(2 (t s² ρ² + 1) / (t² ρ²) · ln(sqrt(t s² ρ² + 1) / α)); ρ is fixed in advance so
 * the sequence is tightest near `tunedSends` sends. Unlike the fixed-sample interval it may be looked
 * at after every send without the chance of ever excluding the truth exceeding α.
 */
export function confidenceSequence(treatment: MeanSums, control: MeanSums, tunedSends: number, alpha = 0.05): Estimate | null {
  if (treatment.n < 2 || control.n < 2) return null;
  const estimate = mean(treatment) - mean(control);
  const t = treatment.n + control.n;
  const unitVariance = t * differenceVariance(treatment, control);
  if (unitVariance === 0) return { estimate, low: estimate, high: estimate };
  const half = confidenceSequenceRadius(t, unitVariance, tunedSends, alpha);
  return { estimate, low: estimate - half, high: estimate + half };
}

/** The radius of the normal-mixture sequence on the mean scale after t observations of variance s² each. */
export function confidenceSequenceRadius(t: number, unitVariance: number, tunedSends: number, alpha = 0.05): number {
  const logAlpha = -2 * Math.log(alpha);
  const rhoSq = (logAlpha + Math.log(logAlpha + 1)) / (Math.max(1, tunedSends) * unitVariance);
  const mixed = t * unitVariance * rhoSq + 1;
  return Math.sqrt(((2 * mixed) / (t * t * rhoSq)) * Math.log(Math.sqrt(mixed) / alpha));
}

/**
 * Weighted sums of the sends a target policy would have made the same choice for, weight
 * w = 1 / propensity (the target is deterministic: it gives the chosen slot probability 1).
 */
export interface IpwSums {
  /** Sends that match the target policy. */
  n: number;
  /** Of those, sends the engine chose by exploration. */
  exploration: number;
  sw: number;
  sw2: number;
  /** Σ w·y and Σ w²·y for a binary outcome y (y² = y). */
  swy: number;
  sw2y: number;
}

export function emptyIpw(): IpwSums {
  return { n: 0, exploration: 0, sw: 0, sw2: 0, swy: 0, sw2y: 0 };
}

export function addIpw(into: IpwSums, propensity: number, y: 0 | 1, exploration: boolean): void {
  const w = 1 / propensity;
  into.n++;
  if (exploration) into.exploration++;
  into.sw += w;
  into.sw2 += w * w;
  into.swy += w * y;
  into.sw2y += w * w * y;
}

export function mergeIpw(into: IpwSums, from: IpwSums): void {
  into.n += from.n;
  into.exploration += from.exploration;
  into.sw += from.sw;
  into.sw2 += from.sw2;
  into.swy += from.swy;
  into.sw2y += from.sw2y;
}

/**
 * Self-normalized IPW: Σ w y / Σ w, with the delta-method variance Σ w² (y − μ)² / (Σ w)²
 * (Hesterberg's ratio estimator; Swaminathan and Joachims call it SNIPS). Null without sends.
 */
export function selfNormalizedIpw(s: IpwSums): Estimate | null {
  if (s.n === 0 || s.sw <= 0) return null;
  const mu = s.swy / s.sw;
  // Σ w²(y − μ)² = Σ w² y − 2 μ Σ w² y + μ² Σ w² for binary y.
  const spread = Math.max(0, s.sw2y - 2 * mu * s.sw2y + mu * mu * s.sw2);
  const half = Z_95 * Math.sqrt(spread) / s.sw;
  return { estimate: mu, low: Math.max(0, mu - half), high: Math.min(1, mu + half) };
}
