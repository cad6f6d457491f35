/** The size-over-time chart (uPlot): size as a line, entered and exited as bars. */
import { useEffect, useRef } from 'preact/hooks'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import type { SizePoint } from './api.js'

/** Whole numbers only on the count axes: members are not fractional. */
const INCRS = [1, 2, 5]
  .flatMap((m) => [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7].map((p) => m * p))
  .sort((a, b) => a - b)

const colors = { size: '#0b5cad', entered: '#1a7f37', exited: '#cf222e' }

export function SizeChart({
  points,
  step,
}: {
  points: readonly SizePoint[]
  step: 'hour' | 'day'
}) {
  const box = useRef<HTMLDivElement>(null)
  const plot = useRef<uPlot | null>(null)

  useEffect(() => {
    const el = box.current
    if (!el) return
    const width = () => Math.max(280, el.clientWidth)
    const bars = uPlot.paths.bars!({ size: [0.35, 40], gap: 1 })
    const opts: uPlot.Options = {
      width: width(),
      height: 280,
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true },
        y: { range: (_u, _min, max) => [0, Math.max(1, max)] },
        count: { range: (_u, _min, max) => [0, Math.max(1, max)] },
      },
      axes: [
        { stroke: '#57606a' },
        { label: 'members', stroke: '#57606a', size: 60, incrs: INCRS },
        {
          scale: 'count',
          side: 1,
          label: 'entered / exited',
          stroke: '#57606a',
          grid: { show: false },
          size: 60,
          incrs: INCRS,
        },
      ],
      series: [
        { label: step === 'hour' ? 'Hour ending' : 'Day ending' },
        { label: 'Size', stroke: colors.size, width: 2, fill: 'rgba(11,92,173,0.08)' },
        {
          label: 'Entered',
          stroke: colors.entered,
          fill: 'rgba(26,127,55,0.55)',
          scale: 'count',
          paths: bars,
          points: { show: false },
        },
        {
          label: 'Exited',
          stroke: colors.exited,
          fill: 'rgba(207,34,46,0.55)',
          scale: 'count',
          paths: bars,
          points: { show: false },
        },
      ],
    }
    plot.current = new uPlot(opts, [[], [], [], []], el)
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: width(), height: 280 }))
    resize.observe(el)
    return () => {
      resize.disconnect()
      plot.current?.destroy()
      plot.current = null
    }
  }, [step])

  useEffect(() => {
    // The size at the end of a step, drawn at that step's end (the running step: now).
    const now = Date.now() / 1000
    const xs = points.map((p) => Math.min(Date.parse(p.end) / 1000, p.partial ? now : Infinity))
    plot.current?.setData([
      xs,
      points.map((p) => p.size),
      points.map((p) => p.entered),
      points.map((p) => p.exited),
    ])
  }, [points, step])

  // The drawn sizes, also as an attribute: what the browser tests read back.
  return (
    <div
      class="chart"
      ref={box}
      data-testid="size-chart"
      data-sizes={points.map((p) => p.size).join(',')}
    />
  )
}
