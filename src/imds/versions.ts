/**
 * IMDS api-versions the product knows, newest first. A VM answers only the versions its host
 * supports (`GET /metadata/versions`), so a client picks the newest version both sides know.
 */
export const KNOWN_API_VERSIONS: readonly string[] = Object.freeze([
  '2025-04-07', '2024-07-17', '2024-03-15', '2023-11-15', '2023-07-01',
  '2021-12-13', '2021-11-15', '2021-11-01', '2021-10-01', '2021-08-01',
  '2021-05-01', '2021-03-01', '2021-02-01', '2021-01-01', '2020-12-01',
  '2020-10-01', '2020-09-01', '2020-07-15', '2020-06-01', '2019-11-01',
  '2019-08-15', '2019-08-01', '2019-06-04', '2019-06-01', '2019-04-30',
  '2019-03-11', '2019-02-01', '2018-10-01', '2018-04-02', '2018-02-01',
  '2017-12-01', '2017-10-01', '2017-08-01', '2017-04-02', '2017-03-01',
]);

/**
 * The newest version found both in `offered` (what a VM advertises, in any order) and in
 * `known` (newest first), or undefined when they share none. "Newest" is `known`'s order.
 * Offered entries are trimmed; anything that is not a string is ignored.
 */
export function newestCommonVersion(offered: string[], known: readonly string[] = KNOWN_API_VERSIONS): string | undefined {
  const offeredSet = new Set(offered.filter((v): v is string => typeof v === 'string').map((v) => v.trim()));
  return known.find((v) => offeredSet.has(v));
}
