// Times arrive as ISO 8601 UTC; the console shows them in the browser's zone and UTC on hover.
export function localTime(iso: string): string {
  const d = new Date(iso);
  if (isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    timeZoneName: 'short',
  });
}

export function utcTime(iso: string): string {
  const d = new Date(iso);
  if (isNaN(d.getTime())) return iso;
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function period(seconds: number): string {
  for (const [unit, s] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
  ] as const)
    if (seconds % s === 0) return `every ${seconds / s}${unit}`;
  return `every ${seconds}s`;
}

// The step and bytes of a progress_detail in words: "Writing the archive · 1.2 GiB of 3.4 GiB,
// 210 MiB/s". Empty when the daemon sent nothing worth showing.
export function progressDetailText(d: { step?: string; bytes_done?: number; bytes_total?: number; bytes_per_second?: number } | null | undefined): string {
  if (!d) return '';
  const parts: string[] = [];
  if (d.step) parts.push(d.step);
  let amount = '';
  if (typeof d.bytes_done === 'number') {
    amount = bytes(d.bytes_done);
    if (typeof d.bytes_total === 'number' && d.bytes_total > 0) amount += ` of ${bytes(d.bytes_total)}`;
  }
  if (typeof d.bytes_per_second === 'number' && d.bytes_per_second > 0) amount += `${amount ? ', ' : ''}${bytes(d.bytes_per_second)}/s`;
  if (amount) parts.push(amount);
  return parts.join(' · ');
}
