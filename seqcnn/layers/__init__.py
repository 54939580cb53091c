"""seqcnn.layers"""
