/** Row type of the widgets table. */
export interface WidgetTable {
  tenant: string;
  user_id: string;
  name: string;
  created_at: number;
}

export interface WidgetTables {
  test_widgets: WidgetTable;
}
