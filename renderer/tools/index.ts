/** The tool registry: one entry per tool, built for a host. */
import { BoxTool } from './box.ts';
import { EverythingTool } from './everything.ts';
import { StrokeTool } from './brush.ts';
import { PointTool } from './point.ts';
import { PolygonTool } from './polygon.ts';
import type { Tool, ToolHost, ToolId } from './types.ts';

export const TOOL_FACTORIES: Record<ToolId, (host: ToolHost) => Tool> = {
  point: (h) => new PointTool(h),
  box: (h) => new BoxTool(h),
  everything: (h) => new EverythingTool(h),
  polygon: (h) => new PolygonTool(h),
  brush: (h) => new StrokeTool('brush', h),
  eraser: (h) => new StrokeTool('eraser', h),
};

export const TOOL_NAMES: Record<ToolId, string> = {
  point: 'SAM point',
  box: 'SAM box',
  everything: 'Everything',
  polygon: 'Polygon',
  brush: 'Brush',
  eraser: 'Eraser',
};
