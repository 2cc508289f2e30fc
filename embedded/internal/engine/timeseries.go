package engine

import "go.mongodb.org/mongo-driver/v2/bson"

// checkTimeseriesInsert refuses a document a time-series collection cannot
// hold: its timeField must be a date, as on MongoDB.
func (c *collection) checkTimeseriesInsert(doc bson.D) error {
	if len(c.opts.Timeseries) == 0 {
		return nil
	}
	field := ""
	for _, e := range c.opts.Timeseries {
		if e.Key == "timeField" {
			field, _ = e.Value.(string)
		}
	}
	for _, e := range doc {
		if e.Key == field {
			if _, ok := e.Value.(bson.DateTime); ok {
				return nil
			}
			break
		}
	}
	return errorf(CodeBadValue, "BadValue", "'%s' must be present and contain a valid BSON UTC datetime value", field)
}
