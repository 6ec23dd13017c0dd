/**
 * Scales `v` to unit length in place and returns it. A zero vector stays all zeros (no division by
 * 0, so no NaN): cosine with it is 0, which is the honest answer for "no content".
 */
export function l2normalize(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
  if (sum === 0 || !Number.isFinite(sum)) return v;
  const scale = 1 / Math.sqrt(sum);
  for (let i = 0; i < v.length; i++) v[i] *= scale;
  return v;
}
